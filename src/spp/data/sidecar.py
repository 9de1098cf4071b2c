"""A reflection sidecar as the import reads it: its mapped columns in an Arrow table, and an index from id to row.

``SidecarConfig`` names the sidecar (a local file or folder, a ``save_to_disk`` folder, or a Hub dataset id at a
revision). Read in place (memory-mapped) when it is on disk; with ``sidecar_streaming`` only the mapped columns are
streamed once into the job folder (``.spp-work/sidecar/``), so a sidecar that does not fit on disk (its texts) is
never stored whole.

``SidecarIndex`` finds the sidecar row of a document id with numpy over 64-bit id hashes (``searchsorted``), every hit
confirmed on the id itself, so memory is ~16 bytes per sidecar row and a collision can never join the wrong row.
Promises: the first row of an id (in sidecar order) is the one joined; every later row with the same id is a
duplicate (``duplicates``), never joined, counted by the import.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spp.data.mapping import ResolvedMapping, load_mapping
from spp.errors import SppConfigError, check_local_path

logger = logging.getLogger("spp.data")
SIDECAR_DIR = "sidecar"
STREAM_BATCH = 10_000


@dataclass
class SidecarConfig:
    """The reflection sidecar and its column mapping."""

    sidecar: str = field(
        default="",
        metadata={
            "help": "Reflection sidecar: a local .parquet/.jsonl file or folder, a save_to_disk folder, or a Hub "
            "dataset id (e.g. dlab-spp/reflection-10m)."
        },
    )
    sidecar_config: str | None = field(default=None, metadata={"help": "Hub configuration (subset) of the sidecar."})
    sidecar_split: str = field(default="train", metadata={"help": "Split of the sidecar."})
    sidecar_revision: str | None = field(
        default=None, metadata={"help": "Hub revision of the sidecar (a commit sha pins it; recorded in spp.json)."}
    )
    sidecar_streaming: bool = field(
        default=False,
        metadata={
            "help": "Stream the sidecar and keep only its mapped columns (in the job folder) instead of downloading "
            "it whole (its texts included)."
        },
    )
    mapping: str = field(
        default="dlab-spp",
        metadata={
            "known": "spp.data.mapping:builtin_names",
            "help": "Column mapping: a built-in name (dlab-spp: the authors' schema) or a YAML mapping file.",
        },
    )
    mapping_overrides: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Mapping fields to override, FIELD=COLUMN (FIELD=none: not in this sidecar), e.g. "
            "citations=none token_index=tok_idx; optional=a,b replaces the optional list."
        },
    )

    def __post_init__(self) -> None:
        if self.sidecar:
            check_local_path(self.sidecar, "sidecar", what="sidecar")
        load_mapping(self.mapping, self.mapping_overrides)  # a bad mapping fails at parse time

    def describe(self) -> dict[str, Any]:
        return {"id": self.sidecar, "config": self.sidecar_config, "split": self.sidecar_split,
                "revision": self.sidecar_revision}  # fmt: skip


def open_dataset(config: SidecarConfig, streaming: bool | None = None):
    """The sidecar as ``datasets`` loads it (``Dataset``, or ``IterableDataset`` when streaming)."""
    from spp.data.sources import SourceConfig, load_source

    if not config.sidecar:
        raise SppConfigError("no sidecar given", field="sidecar", fix="pass --sidecar (a file, folder or Hub id)")
    streaming = config.sidecar_streaming if streaming is None else streaming
    source = SourceConfig(
        dataset=config.sidecar,
        dataset_config=config.sidecar_config,
        split=config.sidecar_split,
        revision=config.sidecar_revision,
        streaming=streaming,
    )
    return load_source(source, check=False)


def sidecar_columns(data) -> list[str]:
    from spp.data.sources import column_names

    return column_names(data)


def load_sidecar(config: SidecarConfig, work_dir: Path) -> tuple[pa.Table, ResolvedMapping]:
    """The sidecar's mapped columns as an Arrow table (memory-mapped) and the mapping resolved against it."""
    mapping = load_mapping(config.mapping, config.mapping_overrides)
    data = open_dataset(config)
    resolved = mapping.resolve(sidecar_columns(data), source=config.sidecar)
    columns = list(dict.fromkeys(resolved.used.values()))
    if config.sidecar_streaming:
        return _materialized(data.select_columns(columns), work_dir / SIDECAR_DIR, config), resolved
    return data.select_columns(columns).with_format("arrow")[:], resolved


def _materialized(stream, folder: Path, config: SidecarConfig) -> pa.Table:
    """The streamed sidecar's columns, written once to ``folder/sidecar.parquet`` (atomically) and memory-mapped."""
    path = folder / "sidecar.parquet"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".sidecar.parquet.tmp-{os.getpid()}"
        writer, rows = None, 0
        schema = stream.features.arrow_schema if stream.features is not None else None
        try:
            for batch in stream.iter(batch_size=STREAM_BATCH):
                table = pa.Table.from_pydict(batch, schema=schema)
                writer = writer or pq.ParquetWriter(tmp, table.schema, compression="zstd")
                try:
                    writer.write_table(table.cast(writer.schema))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                    raise SppConfigError(
                        f"the streamed sidecar declares no column types and its rows {rows}.. differ from the first "
                        f"batch's ({err})", source=config.sidecar, field="sidecar_streaming",
                        fix="load it without streaming, or give the dataset declared features",
                    ) from err  # fmt: skip
                rows += table.num_rows
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise SppConfigError("the sidecar has no rows", source=config.sidecar, field="sidecar")
        os.replace(tmp, path)
        logger.info("sidecar %s: %d rows of its mapped columns kept in %s", config.sidecar, rows, path)
    return pq.read_table(path, memory_map=True)


def id_hashes(ids: list[str]) -> np.ndarray:
    """64-bit hashes of ``ids`` (blake2b), for the index's sorted search."""
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b((i or "").encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
         for i in ids),
        dtype=np.uint64, count=len(ids),
    )  # fmt: skip


def as_ids(values) -> list[str]:
    """Ids as strings (a numeric id column joins a string one by its decimal text); ``None`` stays ``None``."""
    return [None if v is None else str(v) for v in values]


class SidecarIndex:
    """Where each id is in the sidecar (see the module docstring). ``ids`` is the sidecar's id column."""

    def __init__(self, ids: pa.ChunkedArray | pa.Array):
        self.ids = ids
        hashes = [id_hashes(as_ids(chunk.to_pylist())) for chunk in _chunks(ids)]
        hashes = np.concatenate(hashes) if hashes else np.array([], dtype=np.uint64)
        self.order = np.argsort(hashes, kind="stable")  # equal hashes keep sidecar order: the first row comes first
        self.sorted = hashes[self.order]
        self.missing = np.flatnonzero(pc.is_null(ids).to_numpy(zero_copy_only=False)).astype(np.int64)
        self.duplicates = self._duplicates()

    def __len__(self) -> int:
        return len(self.order)

    def _id(self, row: int) -> str | None:
        value = self.ids[int(row)].as_py()
        return None if value is None else str(value)

    def _duplicates(self) -> np.ndarray:
        """Rows whose id an earlier row already has (sorted row numbers; rows without an id are ``missing``)."""
        same = np.flatnonzero(self.sorted[1:] == self.sorted[:-1]) + 1
        found: list[int] = []
        for start in np.unique(np.searchsorted(self.sorted, self.sorted[same], side="left")):
            rows = self.order[start : np.searchsorted(self.sorted, self.sorted[start], side="right")]
            seen: set[str] = set()
            for row in rows:  # in sidecar order (stable sort)
                doc_id = self._id(row)
                if doc_id is None:
                    continue
                if doc_id in seen:
                    found.append(int(row))
                seen.add(doc_id)
        return np.array(sorted(found), dtype=np.int64)

    def lookup(self, ids: list[str | None]) -> list[int | None]:
        """The sidecar row joined to each id (its first row), or ``None`` when the sidecar has no such id."""
        hashes = id_hashes(ids)
        left = np.searchsorted(self.sorted, hashes, side="left")
        right = np.searchsorted(self.sorted, hashes, side="right")
        out: list[int | None] = []
        for doc_id, lo, hi in zip(ids, left.tolist(), right.tolist(), strict=True):
            hit = None
            if doc_id is not None:
                for row in self.order[lo:hi]:  # usually one; several only on a duplicate id or a hash collision
                    if self._id(row) == doc_id:
                        hit = int(row)
                        break
            out.append(hit)
        return out


def _chunks(ids) -> list:
    return list(ids.chunks) if isinstance(ids, pa.ChunkedArray) else [ids]
