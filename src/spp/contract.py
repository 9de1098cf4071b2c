"""The reflection contract: the facts every stage must agree on, owned here and carried by ``spp.json``.

Augmentation, pretraining, SFT, eval and publishing all read these facts back instead of restating them:

- the block format (``BlockFormat``): the ``marker`` that opens a reflection and the ``end_marker`` that closes it
  (``''``: none, the SPP authors' ``<assistant>`` + reflection);
- the ``reflection_budget``: tokens of the *training tokenizer* one window reserves for a reflection block (marker,
  reflection and end marker together), and the ``seq_len`` it goes with, which fixes how many document tokens an
  annotated document may have in its window (``max_document_tokens = seq_len - reflection_budget - 1``);
- the training tokenizer the budget is measured in, the harm threshold, and (for a model) the voice and the arm's
  data-view hash.

Promises:
- ``block_ids`` is the one definition of a block's tokens: augmentation measures with it, packing inserts it, so a
  reflection that augmentation accepted fits the budget that packing enforces.
- ``fit_reflection`` never returns text longer than the budget: it returns the reflection, a trimmed one (cut at a
  sentence end, ``over_budget: trim``), or ``None`` with the reason.
- ``read_spp_json`` reads the ``spp.json`` of any reference the same way: a local artifact folder, a local export
  (``spp_export.json`` with one folder per revision: ``is_export``), or a Hub id at a revision (only that file is
  downloaded).
- ``inherit_contract``: a stage that reads an upstream artifact (pretraining a corpus, curves over a model) takes its
  ``seq_len`` and ``reflection_budget`` from the upstream's recorded contract; a value given that differs is refused.

This module is the ground floor: it imports only ``spp.errors`` and ``spp.metadata`` (``tests/test_layers.py``).
"""

from __future__ import annotations

import glob
import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.metadata import METADATA_FILENAME, SppMetadata, read_metadata

OVER_BUDGET_POLICIES = ("trim", "reject")
VOICES = ("1p", "3p")
EXPORT_INDEX_FILENAME = "spp_export.json"  # the index of a local export (spp.hub.export.LocalExport)
_SENTENCE_END = re.compile(r"[.!?…](?:[\"'”’)\]]*)(?=\s|$)")


@dataclass(frozen=True)
class BlockFormat:
    """How a reflection is written into a document: ``{marker}{reflection}{end_marker}`` at the pause.

    The marker is a special token added to the tokenizer at pretraining; SFT opens the assistant turn with it, which
    binds the assistant to the persona whose reflections the model read.
    """

    marker: str = "<|reflection|>"
    end_marker: str = "<|end_reflection|>"

    def render(self, reflection: str) -> str:
        return f"{self.marker}{reflection.strip()}{self.end_marker}"


def is_export(path: str | Path) -> bool:
    """Whether ``path`` is a local export folder (``spp.hub.export.LocalExport``: an index and one folder per
    revision)."""
    return (Path(path) / EXPORT_INDEX_FILENAME).is_file()


@dataclass
class ReflectionContract:
    """The block format and the reflection budget, as recipe fields (augment and pretrain read the same names)."""

    # value ranges checked at parse time (spp.checks reads them as spp.checks.Range fields; a numeric field not
    # listed is >= 0)
    RANGES = {
        "seq_len": {"low": 2},
    }

    marker: str = field(default="<|reflection|>", metadata={"help": "Token that opens a reflection block."})
    end_marker: str = field(
        default="<|end_reflection|>",
        metadata={"help": "Token that closes it; '' for none (the SPP authors' <assistant> + reflection)."},
    )
    reflection_budget: int = field(
        default=128,
        metadata={
            "help": "Tokens of the training tokenizer a window reserves for one reflection block (marker + "
            "reflection + end marker). Augmentation asks for, measures and enforces it; packing reserves it."
        },
    )
    seq_len: int = field(
        default=2048,
        metadata={
            "help": "Training sequence length the budget goes with: an annotated document has at most "
            "seq_len - reflection_budget - 1 document tokens in its window, and its pause is sampled there."
        },
    )

    def __post_init__(self) -> None:
        check_block_format(self.marker, self.end_marker)
        if not 0 <= self.reflection_budget < self.seq_len - 1:
            raise SppConfigError(
                f"reflection_budget {self.reflection_budget} must be in [0, seq_len - 1) for seq_len {self.seq_len}",
                field="reflection_budget",
                fix="the authors' setting is 128 tokens for seq_len 2048",
            )

    @property
    def block_format(self) -> BlockFormat:
        return BlockFormat(self.marker, self.end_marker)

    @property
    def max_document_tokens(self) -> int:
        """Document tokens an annotated document may have in its window (the rest of the window: EOS and budget)."""
        return self.seq_len - self.reflection_budget - 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "spp.json") -> ReflectionContract:
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as err:
            raise SppConfigError(f"unreadable reflection contract ({err})", source=source, field="contract") from err


def check_block_format(marker: str, end_marker: str) -> None:
    """A usable block format: a non-empty marker, and an end marker that is empty or differs from it."""
    if not marker or marker != marker.strip():
        raise SppConfigError(f"marker {marker!r} must be a non-empty token without spaces around it", field="marker")
    if end_marker == marker:
        raise SppConfigError(
            f"end_marker equals marker ({marker!r}): a block could not be told from the next one",
            field="end_marker",
            fix="use a different end token, or '' for none (the SPP authors' format)",
        )


def marker_token_ids(tokenizer, block_format: BlockFormat) -> tuple[int, int | None]:
    """Token ids of the marker and end marker (``None`` when there is no end marker); each must be one token."""
    tokens = [block_format.marker] + ([block_format.end_marker] if block_format.end_marker else [])
    ids = tokenizer.convert_tokens_to_ids(tokens)
    if any(i is None or i == tokenizer.unk_token_id for i in ids):
        raise SppConfigError(
            f"the reflection markers {tokens} are not tokens of this tokenizer",
            field="marker",
            fix="prepare the tokenizer with spp.pretrain.tokenizer.prepare_tokenizer (it adds them)",
        )
    return ids[0], (ids[1] if len(ids) > 1 else None)


def block_ids(reflection_ids: list[int], markers: tuple[int, int | None]) -> list[int]:
    """A block's tokens: the marker, the reflection's tokens, the end marker when there is one."""
    marker, end = markers
    return [marker, *reflection_ids, *([end] if end is not None else [])]


def block_overhead(block_format: BlockFormat) -> int:
    """Tokens a block adds to its reflection's tokens (the markers)."""
    return 1 + (1 if block_format.end_marker else 0)


def encode_reflection(tokenizer, reflection: str) -> list[int]:
    """A reflection's tokens as packing writes them (stripped; special-token text inside it stays plain text)."""
    return encode_reflections(tokenizer, [reflection])[0]


def encode_reflections(tokenizer, reflections: list[str]) -> list[list[int]]:
    """``encode_reflection`` of each text, in one batched tokenizer call."""
    if not reflections:
        return []
    texts = [r.strip() for r in reflections]
    return tokenizer(texts, add_special_tokens=False, split_special_tokens=True)["input_ids"]


@dataclass(frozen=True)
class Fitted:
    """``fit_reflection``'s answer: the text to keep (``None``: rejected), its block length, and what happened."""

    text: str | None
    block_tokens: int
    trimmed: bool = False
    reason: str | None = None


def fit_reflection(
    text: str, tokenizer, contract: ReflectionContract, policy: str = "trim", length: int | None = None
) -> Fitted:
    """``text`` if its block fits ``contract.reflection_budget``; else trimmed at the last sentence end that fits
    (``policy='trim'``) or rejected (``'reject'``, or when not even the first sentence fits). ``length``: the
    ``encode_reflection`` length of ``text`` when the caller measured it already (a batch)."""
    overhead = block_overhead(contract.block_format)
    limit = contract.reflection_budget - overhead
    length = len(encode_reflection(tokenizer, text)) if length is None else length
    if length <= limit:
        return Fitted(text.strip(), length + overhead)
    if policy == "trim":
        ends = [m.end() for m in _SENTENCE_END.finditer(text.strip())]
        for end in reversed(ends):
            candidate = text.strip()[:end].strip()
            n = len(encode_reflection(tokenizer, candidate))
            if n <= limit:
                return Fitted(candidate, n + overhead, trimmed=True)
    return Fitted(None, length + overhead, reason="over_budget")


def max_words(contract: ReflectionContract, words_per_token: float = 0.7) -> int:
    """A word count to ask a generator for so that its reflection fits the budget (English: ~0.75 words a token)."""
    return max(1, int((contract.reflection_budget - block_overhead(contract.block_format)) * words_per_token))


def read_spp_json(reference: str | Path, revision: str | None = None, field_name: str = "model") -> SppMetadata | None:
    """The ``spp.json`` of ``reference``: a local artifact folder, a local export folder (``revision`` or ``main``),
    or a Hub repo id at ``revision`` (only ``spp.json`` is downloaded). ``None`` when the artifact has none."""
    path = Path(reference)
    if path.is_dir():
        return read_metadata(path / (revision or "main") if is_export(path) else path)
    if path.exists() or str(reference).startswith((".", "/", "~")):
        raise SppConfigError(
            "not a folder", source=str(reference), field=field_name, fix="give an artifact folder or a Hub id"
        )
    return _hub_spp_json(str(reference), revision, field_name)


def _hub_spp_json(repo_id: str, revision: str | None, field_name: str) -> SppMetadata | None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        local = hf_hub_download(repo_id, METADATA_FILENAME, revision=revision)
    except EntryNotFoundError:
        return None
    except Exception as err:  # offline, unknown repo, auth: the user must act either way
        raise SppConfigError(
            f"cannot read {METADATA_FILENAME} of {repo_id!r} at revision {revision or 'main'} "
            f"({err.__class__.__name__})",
            field=field_name,
            fix="pass a local folder or export, or a Hub id reachable from this machine",
        ) from err
    return SppMetadata.from_dict(json.loads(Path(local).read_text()), source=f"{repo_id}/{METADATA_FILENAME}")


def contract_of(meta: SppMetadata | None) -> ReflectionContract | None:
    """The contract recorded in ``meta`` (``contract`` key; older artifacts: only ``block_format``), else ``None``."""
    if meta is None:
        return None
    recorded = meta.details.get("contract")
    if isinstance(recorded, dict):
        return ReflectionContract.from_dict(recorded)
    return None


CONTRACT_SIZES = ("seq_len", "reflection_budget")


def inherit_contract(
    recorded: dict[str, Any] | None, given: dict[str, int | None], source: str, fix: str
) -> dict[str, int | None]:
    """``seq_len`` and ``reflection_budget`` of a stage that reads an upstream artifact: ``given`` holds the stage's
    own values (``None``: not set), ``recorded`` what the upstream's ``spp.json`` records (a corpus's
    ``details.contract``, a model's ``details.data_view``).

    A value not set is the recorded one. A value set that differs from a recorded one is refused
    (``SppConfigError`` naming ``source``, the field, both values and ``fix``): the upstream fitted its reflections
    and placed its pauses for the recorded values. A contract recorded with ``enforced: false`` (augmented without a
    training tokenizer: nothing was fitted) binds nothing, so a value set wins. Without a recorded value, the value
    set (``None`` when neither)."""
    recorded = recorded or {}
    binding = recorded.get("enforced", True) is not False
    resolved: dict[str, int | None] = {}
    for name in CONTRACT_SIZES:
        mine, theirs = given.get(name), recorded.get(name)
        if mine is not None and theirs is not None and mine != theirs and binding:
            raise SppConfigError(
                f"set to {mine}, but this spp.json records {theirs}: the reflections were fitted and the pauses placed "
                f"for {theirs}, so windows built with {mine} would cut or skip them",
                source=source,
                field=name,
                fix=fix,
            )
        resolved[name] = mine if mine is not None else theirs
    return resolved


def block_format_of(meta: SppMetadata | None) -> BlockFormat | None:
    """The block format recorded in ``meta``, or ``None``."""
    if meta is None or not meta.block_format or not meta.block_format.get("marker"):
        return None
    return BlockFormat(meta.block_format["marker"], meta.block_format.get("end_marker", ""))


def record_contract(meta: SppMetadata, contract: ReflectionContract, **facts: Any) -> SppMetadata:
    """``meta`` with the contract (and ``facts``: tokenizer, voice, harm_threshold, view hash ...) recorded."""
    meta.block_format = {"marker": contract.marker, "end_marker": contract.end_marker}
    meta.details["contract"] = {**contract.to_dict(), **{k: v for k, v in facts.items() if v is not None}}
    return meta


def corpus_fingerprint(path: str | Path, corpus=None) -> str:
    """A fingerprint of the corpus at ``path``: its ``datasets`` fingerprint when saved with ``save_to_disk``, else
    sha256 over each parquet file's name, size and footer (cheap: no data page is read)."""
    import hashlib

    path = Path(path)
    state = path / "state.json"
    if state.is_file():
        recorded = json.loads(state.read_text()).get("_fingerprint")
        if recorded:
            return str(recorded)
    digest = hashlib.sha256()
    files = sorted(path.glob("**/*.parquet")) if path.is_dir() else sorted(Path(p) for p in glob.glob(str(path)))
    for file in files:
        size = file.stat().st_size
        with file.open("rb") as handle:
            handle.seek(max(0, size - 65_536))
            digest.update(f"{file.name}:{size}:".encode() + handle.read())
    if not files and corpus is not None:
        digest.update(str(getattr(corpus, "_fingerprint", "")).encode())
    return digest.hexdigest()[:16]


def data_view_hash(fields_: dict[str, Any]) -> str:
    """sha256 (16 hex digits) of everything that shapes an arm's window stream except the arm itself: two arms are
    data-matched only if their view hashes are equal."""
    import hashlib

    return hashlib.sha256(json.dumps(fields_, sort_keys=True, default=str).encode()).hexdigest()[:16]
