"""Tokenized documents: the columns ``spp pretrain``'s tokenizing pass writes (``tokenize_batch``) and the
``Document`` the packer reads back from a row, with its reflection blocks by placement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spp.contract import block_ids, encode_reflection
from spp.errors import SppConfigError

PAD, DOCUMENT, REFLECTION = 0, 1, 2
LAYOUTS = ("dense", "document")
PLAIN_FILLS = ("reserve", "full")
PLACEMENT_PREFIX = {"pause": "", "end": "end_"}
TOKENIZED_COLUMNS = (
    "id",
    "doc_ids",
    "n_tokens",
    "harm_score",
    "pause",
    "block_ids",
    "end_pause",
    "end_block_ids",
)
SKIP_OVER_BUDGET = "block longer than reflection_budget"
SKIP_PAUSE_OUTSIDE = "pause past the document tokens a window holds"


@dataclass(frozen=True)
class Document:
    """A tokenized document.

    ``pause``/``block``: token index of its pause reflection and the block (marker + reflection + end marker), ``None``
    without one; ``end_pause``/``end_block``: the same for the end placement (``spp augment --placement end``). An arm
    picks one placement (``ArmView.placed``). ``annotated``/``reserve``: whether the corpus has a reflection for it
    in any placement, and the longest of those blocks: the layout reads only these, so it is the same in every arm.
    """

    id: str
    ids: list[int]
    pause: int | None = None
    block: list[int] | None = None
    harm_score: float | None = None
    end_pause: int | None = None
    end_block: list[int] | None = None

    @property
    def annotated(self) -> bool:
        return self.block is not None or self.end_block is not None

    @property
    def reserve(self) -> int:
        return max(len(self.block or ()), len(self.end_block or ()))

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Document:
        placed = {}
        for prefix in PLACEMENT_PREFIX.values():
            pause = row.get(f"{prefix}pause")
            has = pause is not None and pause >= 0
            placed[prefix] = (pause, list(row[f"{prefix}block_ids"])) if has else (None, None)
        return cls(
            row["id"],
            list(row["doc_ids"]),
            *placed[""],
            row["harm_score"],
            *placed["end_"],
        )


def _reflection(batch: dict[str, list], i: int, voice: str, prefix: str) -> tuple[int, str] | None:
    """``(character position, reflection text)`` of row ``i`` in one placement, or ``None`` without one."""
    status = batch.get(f"{prefix}reflection_status")
    if status is None or status[i] != "ok":
        return None
    reflection, position = batch[f"{prefix}reflection_{voice}"][i], batch[f"{prefix}reflection_position"][i]
    if not reflection or position is None or not 0 <= position <= len(batch["text"][i]):
        raise SppConfigError(
            f"row {batch['id'][i]!r} has {prefix}reflection_status 'ok' but no usable {prefix}reflection_{voice}/"
            f"{prefix}reflection_position",
            field=f"{prefix}reflection_{voice}",
            fix="re-run the producer on this row or mark it rejected",
        )
    return position, reflection


def tokenize_batch(
    batch: dict[str, list], tokenizer, voice: str, marker_ids: tuple[int, int | None]
) -> dict[str, list]:
    """A ``Dataset.map(batched=True)`` function: corpus rows -> ``TOKENIZED_COLUMNS``.

    A document is tokenized in pieces split at every reflection position the corpus has for it (pause and end
    placements, in every arm), so its tokens are the same whichever block goes in, or none. ``pause``/``end_pause``
    are token indices (``-1``: no reflection), ``block_ids``/``end_block_ids`` the blocks in ``voice``. Special-token
    text inside documents or reflections is tokenized as plain text, so a document cannot forge a marker or an EOS.
    """
    if "reflection_status" not in batch:
        raise SppConfigError(
            "the corpus has no reflection_status column: it is not an spp augment output",
            field="dataset_path",
            fix="run spp augment on it first (every arm, the baseline too, reads the augmented corpus)",
        )
    out: dict[str, list] = {name: [] for name in TOKENIZED_COLUMNS}
    for i, text in enumerate(batch["text"]):
        found = {p: _reflection(batch, i, voice, prefix) for p, prefix in PLACEMENT_PREFIX.items()}
        cuts = sorted({pos for pos, _ in filter(None, found.values())} | {0, len(text)})
        pieces = [text[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
        encoded = tokenizer(pieces, add_special_tokens=False, split_special_tokens=True)["input_ids"] if pieces else []
        starts, ids = {0: 0}, []
        for b, piece in zip(cuts[1:], encoded, strict=True):
            ids += piece
            starts[b] = len(ids)
        out["id"].append(str(batch["id"][i]))
        out["doc_ids"].append(ids)
        out["n_tokens"].append(len(ids))  # lets a resume find its window without reading doc_ids
        out["harm_score"].append(batch["harm_score"][i] if "harm_score" in batch else None)
        for placement, prefix in PLACEMENT_PREFIX.items():
            reflection = found[placement]
            if reflection is None:
                out[f"{prefix}pause"].append(-1)
                out[f"{prefix}block_ids"].append([])
            else:
                out[f"{prefix}pause"].append(starts[reflection[0]])
                out[f"{prefix}block_ids"].append(block_ids(encode_reflection(tokenizer, reflection[1]), marker_ids))
    return out
