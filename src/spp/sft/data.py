"""SFT data: load chat datasets, mix them by proportion, and build the two citation stages.

Promises:
- ``mix`` is deterministic in ``seed``: each dataset is shuffled with it, then the first rows are kept so that each
  dataset's share of the result is its proportion (normalised), without repeating any row; the result is as large as
  that allows.
- Persona-binding data in paired form (``messages_cite`` / ``messages_nocite``, the schema of ``spp bind-data`` and of
  the SPP authors' release) trains stage 1 on the cited rendering and stage 2 on the uncited one, row for row the
  same conversations; the general mix is in stage 1 only. Rows without an ``ok`` rendering are dropped, counted and
  logged.
- ``strip_citations`` is only the fallback for persona data without an uncited rendering: it removes ``[X.Y]``
  citation groups whose every id is a section of the constitution (and the space in front of one), outside code
  spans and code blocks, and not where a bracket is code (after an identifier, ``)``, ``]``, ``(``, ``,``, ``=``, or an
  operator); it changes nothing else, so ``np.array([1.0, 2.0, 3.0])`` survives. Only assistant turns are stripped.
- ``dataset_identity`` is what the SFT hash sees of a dataset: a Hub id with its revision, or, for local files, the
  sha256 of their bytes (so the same data hashes the same on every machine, wherever it lies).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spp.errors import SppConfigError
from spp.sft.citations import strip_citations

if TYPE_CHECKING:
    from spp.sft.config import SFTDataset, SPPSFTConfig

logger = logging.getLogger("spp.sft")

LOCAL_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}
PAIRED_COLUMNS = ("messages_cite", "messages_nocite")
SectionIds = Collection[str] | Callable[[], Collection[str]] | None


def strip_assistant_citations(messages: list[dict[str, Any]], section_ids: Collection[str]) -> list[dict[str, Any]]:
    """``messages`` with the citations of ``section_ids`` removed from assistant turns only."""
    return [
        {**m, "content": strip_citations(m["content"], section_ids)} if m["role"] == "assistant" else m
        for m in messages
    ]


def _local_files(spec: SFTDataset) -> list[Path]:
    if Path(spec.path).is_file():
        return [Path(spec.path)]
    if spec.path in set(LOCAL_BUILDERS.values()) and spec.data_files:
        files = [spec.data_files] if isinstance(spec.data_files, str) else list(spec.data_files)
        return [Path(f) for f in files]
    return []


def _first_bad_line(path: Path) -> str | None:
    """``line N: problem`` for the first line of a JSON Lines file that is not a JSON object."""
    import json

    if path.suffix != ".jsonl":
        return None
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            try:
                if line.strip() and not isinstance(json.loads(line), dict):
                    return f"line {number}: not a JSON object"
            except json.JSONDecodeError as err:
                return f"line {number}: {err.msg}"
    return None


def _read(spec: SFTDataset):
    import datasets

    local = Path(spec.path)
    if local.is_file():
        builder = LOCAL_BUILDERS.get(local.suffix)
        if builder is None:
            raise SppConfigError(
                f"unknown data file type {local.suffix!r}", source=local, fix="use .jsonl or .parquet"
            )
        try:
            data = datasets.load_dataset(builder, data_files=str(local), split=spec.split)
        except Exception as err:  # datasets wraps the parser's error in several types
            if "UTF-8" in str(err):  # datasets < 4.8.4's JSON reader refuses non-UTF-8 text itself
                raise SppConfigError(f"unreadable data ({err})", source=local, fix="save the file as UTF-8") from err
            raise SppConfigError(
                f"malformed {builder} data ({_first_bad_line(local) or err})",
                source=local,
                fix="fix or drop that line",
            ) from err
        try:
            data.data.table.validate(full=True)  # pyarrow reads non-UTF-8 text without a word
        except Exception as err:
            raise SppConfigError(f"unreadable data ({err})", source=local, fix="save the file as UTF-8") from err
        return data
    if local.is_dir() and (local / "dataset_info.json").is_file():
        return datasets.load_from_disk(str(local))
    return datasets.load_dataset(
        spec.path, name=spec.name, data_files=spec.data_files, split=spec.split, revision=spec.revision
    )


def is_paired(column_names: Collection[str]) -> bool:
    """Whether a dataset has both renderings of the persona-binding schema."""
    return all(c in column_names for c in PAIRED_COLUMNS)


def _drop_unrendered(data, columns: tuple[str, ...], source: str):
    """Rows whose renderings are all present (``bind-data`` leaves them empty for rejected/failed rows); counted."""
    kept = data.filter(
        lambda *values: all(values), input_columns=list(columns), desc="Keeping rows with both renderings"
    )
    if len(kept) < len(data):
        logger.warning(
            "%s: %d of %d rows have no ok rendering and are left out", source, len(data) - len(kept), len(data)
        )
    return kept


CHAT_ROLES = ("system", "user", "assistant")


def check_conversations(data, columns: Collection[str], source: str) -> None:
    """Every row's conversation is a non-empty list of ``{role, content}`` turns with a role the spp chat template
    renders and string content; else ``SppConfigError`` naming the file, the row and the turn (not a jinja error
    deep inside TRL)."""
    for column in columns:
        for row, turns in enumerate(data[column]):
            problem = None
            if not isinstance(turns, list) or not turns:
                problem = "an empty conversation" if isinstance(turns, list) else f"{type(turns).__name__}, not a list"
            else:
                for number, turn in enumerate(turns):
                    role = turn.get("role") if isinstance(turn, dict) else None
                    if role not in CHAT_ROLES:
                        problem = f"turn {number} has role {role!r}, not one of {CHAT_ROLES}"
                    elif not isinstance(turn.get("content"), str):
                        problem = f"turn {number} has no text content"
                    if problem:
                        break
            if problem:
                raise SppConfigError(
                    f"row {row}, column {column!r}: {problem}",
                    source=source,
                    fix="each row needs a non-empty list of {role: system|user|assistant, content: text} turns",
                )


def _mapped(data, spec: SFTDataset):
    """``data`` with the columns ``spec.columns`` names renamed to spp's (``messages``, ``messages_cite``, ...)."""
    if not spec.columns:
        return data
    missing = sorted(c for c in spec.columns.values() if c not in data.column_names)
    if missing:
        raise SppConfigError(
            f"columns maps to {missing}, which the dataset lacks (columns: {data.column_names})",
            source=spec.path,
            field="datasets.columns",
            fix="`spp inspect DATASET` lists its columns",
        )
    renames = {source: role for role, source in spec.columns.items() if source != role}
    clashing = sorted(set(renames.values()) & (set(data.column_names) - set(renames)))
    if clashing:
        data = data.remove_columns(clashing)  # the mapping says which column plays the role, not the name
    return data.rename_columns(renames)


def load_sft_dataset(spec: SFTDataset):
    """One dataset of the mixture as ``messages`` (stage-1 rendering) and, for paired data, ``messages_uncited``.

    Paired data (``messages_cite`` / ``messages_nocite``) gives the cited rendering as ``messages``; plain chat data
    its ``messages`` column (after ``spec.columns`` renamed a differing schema to these names). Conversations keep
    every turn (multi-turn sets train on every assistant turn). Other columns are dropped.
    """
    data = _mapped(_read(spec), spec)
    if is_paired(data.column_names):
        data = _drop_unrendered(data, PAIRED_COLUMNS, spec.path).select_columns(list(PAIRED_COLUMNS))
        check_conversations(data, PAIRED_COLUMNS, spec.path)
        return data.rename_columns({"messages_cite": "messages", "messages_nocite": "messages_uncited"})
    if "messages" in data.column_names:
        check_conversations(data, ("messages",), spec.path)
    if "messages" not in data.column_names:
        raise SppConfigError(
            f"no 'messages' column, nor 'messages_cite' and 'messages_nocite' (columns: {data.column_names})",
            source=spec.path,
            fix="SFT data must be chat data: a 'messages' list of {role, content} per row, or the paired "
            "persona-binding schema written by `spp bind-data`",
        )
    return data.select_columns(["messages"])


def _counts(lengths: list[int], proportions: list[float | None]) -> list[int]:
    """Rows taken from each part (all of them without proportions; see the module docstring)."""
    if all(p is None for p in proportions):
        return list(lengths)
    if any(p is None for p in proportions):
        raise SppConfigError("set 'proportion' on every dataset of a stage or on none", field="datasets")
    weights = [p / sum(proportions) for p in proportions]
    total = min(n / w for n, w in zip(lengths, weights, strict=True))
    return [round(w * total) for w in weights]


def _take(part, count: int, seed: int, shuffle: bool):
    return part.shuffle(seed=seed).select(range(count)) if shuffle else part


def mix(parts: list, proportions: list[float | None], seed: int = 0):
    """Concatenate ``parts`` (all proportions ``None``) or mix them by proportion (see the module docstring)."""
    from datasets import concatenate_datasets

    counts = _counts([len(p) for p in parts], proportions)
    shuffle = any(p is not None for p in proportions)
    picked = [_take(p, n, seed, shuffle) for p, n in zip(parts, counts, strict=True)]
    mixed = concatenate_datasets(picked)
    return mixed.flatten_indices() if shuffle else mixed


def _is_persona(spec: SFTDataset, data) -> bool:
    return spec.persona if spec.persona is not None else "messages_uncited" in data.column_names


def _uncited(spec: SFTDataset, data, section_ids: SectionIds):
    """The uncited rendering of a persona dataset: its own, else the constitution-aware strip (the fallback)."""
    if "messages_uncited" in data.column_names:
        return data.select_columns(["messages_uncited"]).rename_column("messages_uncited", "messages")
    section_ids = section_ids() if callable(section_ids) else section_ids
    if section_ids is None:
        raise SppConfigError("no constitution to strip citations with", field="constitution")
    logger.warning(
        "%s has no uncited rendering (messages_nocite): stage 2 strips its [X.Y] citations by pattern (fallback)",
        spec.path,
    )
    return data.map(
        lambda row: {"messages": strip_assistant_citations(row["messages"], section_ids)},
        desc="Stripping citations (fallback)",
    )


def stage_datasets(config: SPPSFTConfig, section_ids: SectionIds = None) -> list:
    """The training data of each SFT stage: one dataset, or two with ``citation_stage`` ``uncited``/``datasets``.

    ``uncited``: stage 1 mixes every stage-1 dataset (persona data in its cited rendering); stage 2 is the persona
    datasets' uncited rendering of exactly the rows stage 1 took. ``section_ids`` (the constitution's, or a function
    giving them, called only when the strip fallback runs) is what the fallback may remove.
    """
    specs = config.dataset_specs
    by_stage = {stage: [s for s in specs if s.stage == stage] for stage in (1, 2)}
    if not by_stage[1]:
        raise SppConfigError("no stage-1 dataset", field="datasets", fix="list at least one dataset in the recipe")
    if by_stage[2] and config.citation_stage != "datasets":
        raise SppConfigError(
            "datasets with stage: 2 are only used with citation_stage: datasets", field="citation_stage"
        )
    if config.citation_stage == "datasets" and not by_stage[2]:
        raise SppConfigError("citation_stage 'datasets' needs datasets with stage: 2", field="datasets")
    parts = [load_sft_dataset(s) for s in by_stage[1]]
    proportions = [s.proportion for s in by_stage[1]]
    stages = [mix([p.select_columns(["messages"]) for p in parts], proportions, config.mixture_seed)]
    if config.citation_stage == "uncited":
        stages.append(_uncited_stage(by_stage[1], parts, proportions, config.mixture_seed, section_ids))
    elif config.citation_stage == "datasets":
        stages.append(_stage(by_stage[2], config.mixture_seed))
    for number, data in enumerate(stages, 1):
        logger.info("SFT stage %d: %d conversations", number, len(data))
    return stages


def _uncited_stage(specs: list[SFTDataset], parts: list, proportions: list, seed: int, section_ids):
    """Stage 2 of ``uncited``: the persona parts' uncited rows, the same rows (and order) stage 1 took."""
    from datasets import concatenate_datasets

    counts = _counts([len(p) for p in parts], proportions)
    shuffle = any(p is not None for p in proportions)
    persona = [
        _take(_uncited(spec, part, section_ids), n, seed, shuffle)
        for spec, part, n in zip(specs, parts, counts, strict=True)
        if _is_persona(spec, part)
    ]
    if not persona:
        raise SppConfigError(
            "citation_stage 'uncited' has no persona-binding dataset for its uncited stage 2",
            field="datasets",
            fix="use paired data (messages_cite / messages_nocite, from `spp bind-data`), or mark the persona "
            "dataset with `persona: true` (its [X.Y] citations are then stripped by pattern)",
        )
    uncited = concatenate_datasets(persona)
    return uncited.flatten_indices() if shuffle else uncited


def _stage(specs: list[SFTDataset], seed: int):
    return mix([load_sft_dataset(s).select_columns(["messages"]) for s in specs], [s.proportion for s in specs], seed)


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _hidden(relative: Path) -> bool:
    """Job state (``.spp-work/``), other dot-folders and ``datasets``' own cache files are not data."""
    return any(part.startswith(".") for part in relative.parts) or relative.name.startswith("cache-")


def dataset_identity(spec: SFTDataset) -> dict[str, Any]:
    """What the SFT hash records of ``spec`` (see the module docstring)."""
    identity = {
        "split": spec.split,
        "name": spec.name,
        "proportion": spec.proportion,
        "stage": spec.stage,
        "persona": spec.persona,
    }
    if spec.columns:
        identity["columns"] = dict(sorted(spec.columns.items()))
    files = _local_files(spec)
    if files:
        return {**identity, "sha256": _sha256(files)}
    if Path(spec.path).is_dir():
        root = Path(spec.path)
        files = sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p.relative_to(root)))
        return {**identity, "sha256": _sha256(files)}
    if spec.revision is None:
        logger.warning("dataset %s has no pinned revision: pin one so the SFT hash identifies the data", spec.path)
    return {**identity, "path": spec.path, "revision": spec.revision, "data_files": spec.data_files}
