"""Where documents come from: any ``datasets`` source, checked up front so bad input fails with a clear message.

Sources: ``builtin:<name>`` (see ``spp.data.corpora``), a local ``.parquet``/``.jsonl``/``.json``/``.csv`` file or a
folder of them, a ``save_to_disk`` folder, or a Hub dataset id (with ``dataset_config``, ``split``, ``revision``).
``streaming=True`` reads without materialising the corpus (for corpora larger than the disk).

Promises: a missing text column raises ``SppConfigError`` listing the columns found; a text column that is not a
string column raises; a malformed JSON Lines or CSV file raises naming the file and the line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.data.corpora import BUILTIN_PREFIX, builtin_revision, load_builtin
from spp.errors import SppConfigError, check_local_path

BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv"}


@dataclass
class SourceConfig:
    """The input corpus and which of its columns hold the text and the id."""

    dataset: str = field(
        default="builtin:stdlib-docs",
        metadata={
            "help": "Input: 'builtin:stdlib-docs', a local .parquet/.jsonl/.json/.csv file or folder, a save_to_disk "
            "folder, or a Hub dataset id."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration (subset) name."})
    split: str = field(default="train", metadata={"help": "Split to read."})
    revision: str | None = field(default=None, metadata={"help": "Hub dataset revision (branch, tag or commit)."})
    text_column: str = field(default="text", metadata={"help": "Column holding the document text."})
    id_column: str | None = field(
        default=None,
        metadata={
            "help": "Column holding a stable document id. Empty: the 'id' column when the source has one, else the "
            "sha256 of the text; 'none': always the sha256 of the text."
        },
    )
    streaming: bool = field(default=False, metadata={"help": "Stream the source instead of loading it to disk."})
    max_documents: int | None = field(default=None, metadata={"help": "Read only the first N documents."})

    def __post_init__(self) -> None:
        if not self.dataset.startswith(BUILTIN_PREFIX):
            check_local_path(self.dataset, "dataset", what="dataset")  # a local-looking path never goes to the Hub
        if self.max_documents is not None and self.max_documents < 0:
            raise SppConfigError(f"must be at least 0, got {self.max_documents}", field="max_documents")

    def describe(self) -> dict[str, Any]:
        """Provenance of the source for spp.json: id, config, split, revision."""
        revision = builtin_revision() if self.dataset.startswith(BUILTIN_PREFIX) else self.revision
        return {"id": self.dataset, "config": self.dataset_config, "split": self.split, "revision": revision}


def resolve_id_column(data, config: SourceConfig) -> str | None:
    """The id column to use: the configured one, else ``id`` when present, else ``None`` (hash the text)."""
    if config.id_column == "none":
        return None
    if config.id_column:
        return config.id_column
    return "id" if "id" in column_names(data) else None


def column_names(data) -> list[str]:
    """Columns of a ``Dataset`` or ``IterableDataset`` (read from the first row when a stream has no features)."""
    if data.features is not None:
        return list(data.features)
    return list(next(iter(data.take(1)), {}))


def text_id(text: str) -> str:
    """The id of a document without one: sha256 of its UTF-8 text (first 32 hex digits)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _first_bad_json_line(path: Path) -> tuple[int, str] | None:
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                return number, err.msg
            if not isinstance(obj, dict):
                return number, "not a JSON object"
    return None


def _first_non_utf8_line(path: Path) -> int | None:
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def _malformed(files: list[Path], builder: str, err: Exception) -> SppConfigError:
    """The clearest error we can give for a file ``datasets`` could not read: file and line where we can find it."""
    if isinstance(err, UnicodeDecodeError) or "utf8" in str(err).lower().replace("-", ""):
        for path in files:
            line = _first_non_utf8_line(path)
            if line:
                return SppConfigError(
                    "not UTF-8 text", source=f"{path}:{line}", fix="save the file as UTF-8 (e.g. iconv -t utf-8)"
                )
    if builder == "json":
        for path in files:
            bad = _first_bad_json_line(path) if path.suffix == ".jsonl" else None
            if bad:
                return SppConfigError(
                    f"malformed JSON Lines ({bad[1]})", source=f"{path}:{bad[0]}", fix="fix or drop that line"
                )
    where = files[0] if len(files) == 1 else f"{files[0]} (one of {len(files)} files)"
    return SppConfigError(f"could not read {builder} data: {err}", source=where, fix="check the file's format")


def _local_files(path: Path) -> tuple[str, list[Path]]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in BUILDERS)
    if not files:
        raise SppConfigError("no data files found", source=path, fix=f"use files ending in {sorted(BUILDERS)}")
    builders = {BUILDERS.get(p.suffix) for p in files}
    if None in builders or len(builders) != 1:
        raise SppConfigError(
            f"unsupported or mixed file types {sorted({p.suffix for p in files})}",
            source=path,
            fix=f"use one of {sorted(BUILDERS)}",
        )
    return builders.pop(), files


def _load_local(path: Path, config: SourceConfig):
    from datasets import load_dataset, load_from_disk

    if path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file()):
        data = load_from_disk(str(path))
        if hasattr(data, "keys"):  # a DatasetDict
            if config.split not in data:
                raise SppConfigError(f"no split {config.split!r}; found {list(data)}", source=path, field="split")
            data = data[config.split]
        return data.to_iterable_dataset() if config.streaming else data
    builder, files = _local_files(path)
    try:
        data = load_dataset(builder, data_files=[str(p) for p in files], split="train", streaming=config.streaming)
        if config.streaming:
            next(iter(data.take(1)), None)  # surface a malformed first file now, not mid-job
        else:
            data.data.table.validate(full=True)  # pyarrow reads non-UTF-8 text without a word; refuse it now
        return data
    except SppConfigError:
        raise
    except Exception as err:  # datasets wraps parser errors in several types
        raise _malformed(files, builder, err) from err


def load_source(config: SourceConfig, check: bool = True):
    """The configured corpus as a ``Dataset`` (or ``IterableDataset`` when streaming), its text and id columns
    checked (``check=False``: any dataset, e.g. a reflection sidecar or one to inspect)."""
    name = config.dataset
    if name.startswith(BUILTIN_PREFIX):
        data = load_builtin(name)
        data = data.to_iterable_dataset() if config.streaming else data
    elif Path(name).exists():
        data = _load_local(Path(name), config)
    else:
        check_local_path(name, "dataset", what="dataset")  # a local-looking path is never sent to the Hub
        from datasets import load_dataset

        data = load_dataset(
            name, config.dataset_config, split=config.split, revision=config.revision, streaming=config.streaming
        )
    if config.max_documents is not None:
        data = (
            data.take(config.max_documents)
            if config.streaming
            else data.select(range(min(config.max_documents, len(data))))
        )
    if check:
        check_columns(data, config, source=name)
    return data


def check_columns(data, config: SourceConfig, source: str = "") -> None:
    """Raise ``SppConfigError`` when the text or id column is missing, or the text column is not strings."""
    features = data.features
    columns = column_names(data)
    for role, column in (("text_column", config.text_column), ("id_column", resolve_id_column(data, config))):
        if column and column not in columns:
            raise SppConfigError(
                f"no column {column!r}; the columns found are {columns}",
                source=source,
                field=role,
                fix=f"pass --{role} with one of them",
            )
    dtype = getattr(features.get(config.text_column), "dtype", None) if features is not None else None
    if dtype is not None and dtype not in ("string", "large_string", "null"):
        raise SppConfigError(
            f"column {config.text_column!r} holds {dtype}, not text",
            source=source,
            field="text_column",
            fix="point --text_column at a string column",
        )
