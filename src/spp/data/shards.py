"""The on-disk state of a resumable, sharded augmentation job.

Layout under ``<output_dir>/.spp-work/``:
- ``job.json``: the fingerprint of everything that decides the rows (source, selection, generator, persona,
  validation, chunk size). A rerun with other settings refuses to mix its rows with these.
- ``chunks/chunk-<c>.parquet``: rows ``[c * chunk_size, (c + 1) * chunk_size)`` of the corpus, in corpus order,
  with the chunk's ``AugmentStats`` in the parquet metadata. Chunk ``c`` belongs to shard ``c % num_shards``, so
  the layout is the same whatever the shard count.
- ``shards/shard-<k>-of-<n>.json``: written when shard ``k`` has read the whole corpus: the corpus length and the
  chunks it owns.

Promises: a chunk file exists only complete (written to a temporary name, fsynced, then renamed), so a killed job
loses at most the chunk it was writing, and a rerun continues with the first missing chunk of its shard.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from spp.data.augment import PLACEMENT_PREFIXES, REFLECTION_COLUMNS, AugmentStats
from spp.errors import SppConfigError

WORK_DIR = ".spp-work"
_REFLECTION_TYPES = {
    "reflection_1p": pa.string(),
    "reflection_3p": pa.string(),
    "citations": pa.list_(pa.string()),
    "reflection_position": pa.int64(),
    "reflection_token_position": pa.int64(),
    "reflection_tokens_1p": pa.int64(),
    "reflection_tokens_3p": pa.int64(),
    "reflection_status": pa.string(),
    "reflection_reason": pa.string(),
    "canary": pa.string(),
    "raw_response": pa.string(),
}


def schema_for(placement: str = "pause") -> pa.Schema:
    """The columns spp writes for a run in ``placement``: id, text, harm score and the (prefixed) reflection columns."""
    prefix = PLACEMENT_PREFIXES[placement]
    base = [("id", pa.string()), ("text", pa.string()), ("harm_score", pa.float64())]
    return pa.schema(base + [(prefix + name, _REFLECTION_TYPES[name]) for name in REFLECTION_COLUMNS])


SCHEMA = schema_for("pause")
_META_KEY = b"spp_chunk"
SOURCE_PREFIX = "source_"


def carried_columns(features, consumed: set[str], schema: pa.Schema = SCHEMA) -> dict[str, str]:
    """Source columns the output carries as they are: ``{source name: output name}``.

    Every column of the source that spp does not consume (the text, the id, the harm score) is kept; one whose name
    spp's own columns already use is kept as ``source_<name>``. ``features`` is the source's ``datasets.Features``.
    """
    names = [name for name in (features or {}) if name not in consumed]
    return {name: f"{SOURCE_PREFIX}{name}" if name in schema.names else name for name in names}


def output_schema(features, carried: dict[str, str], schema: pa.Schema = SCHEMA) -> pa.Schema:
    """``schema`` (spp's own columns) followed by the carried source columns, each with its source type."""
    if not carried:
        return schema
    source = features.arrow_schema
    return pa.schema([*schema, *(pa.field(out, source.field(name).type) for name, out in carried.items())])


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one, never a part."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


class JobState:
    """The chunks, shard manifests and fingerprint of one job directory."""

    def __init__(self, output_dir: str | Path, chunk_size: int, schema: pa.Schema = SCHEMA):
        self.root = Path(output_dir) / WORK_DIR
        self.chunk_size = chunk_size
        self.schema = schema
        (self.root / "chunks").mkdir(parents=True, exist_ok=True)
        (self.root / "shards").mkdir(parents=True, exist_ok=True)

    def claim(self, fingerprint: str, recipe: dict[str, Any]) -> None:
        """Record the job's fingerprint, or check that an existing job has the same one."""
        path = self.root / "job.json"
        if path.is_file():
            found = json.loads(path.read_text()).get("fingerprint")
            if found != fingerprint:
                raise SppConfigError(
                    "this output folder holds a job with different settings (source, selection, generator, persona "
                    "or chunk size)",
                    source=path.parent.parent,
                    field="output_dir",
                    fix="rerun with the same recipe, use a new output_dir, or pass --overwrite true",
                )
            return
        atomic_write_json(path, {"fingerprint": fingerprint, "chunk_size": self.chunk_size, "recipe": recipe})

    def chunk_path(self, index: int) -> Path:
        return self.root / "chunks" / f"chunk-{index:08d}.parquet"

    def has_chunk(self, index: int) -> bool:
        return self.chunk_path(index).is_file()

    def write_chunk(self, index: int, columns: dict[str, list], stats: AugmentStats) -> None:
        schema = self.schema
        table = pa.Table.from_pydict({name: columns.get(name, [None] * stats.rows) for name in schema.names}, schema)
        meta = {"index": index, "first_row": index * self.chunk_size, "stats": stats.to_dict()}
        table = table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        atomic_write_bytes(self.chunk_path(index), sink.getvalue().to_pybytes())

    def remove_partial_writes(self, owned) -> int:
        """Delete temporary files a killed run left for chunks ``owned(index)`` accepts (other shards' are theirs)."""
        removed = 0
        for tmp in (self.root / "chunks").glob(".chunk-*.parquet.tmp-*"):
            if owned(int(tmp.name.split("-")[1].split(".")[0])):
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed

    def chunk_stats(self, index: int) -> AugmentStats:
        meta = pq.read_schema(self.chunk_path(index)).metadata or {}
        return AugmentStats.from_dict(json.loads(meta[_META_KEY])["stats"])

    def shard_path(self, shard_index: int, num_shards: int) -> Path:
        return self.root / "shards" / f"shard-{shard_index:05d}-of-{num_shards:05d}.json"

    def finish_shard(self, shard_index: int, num_shards: int, total_rows: int, stats: AugmentStats) -> None:
        record = {"total_rows": total_rows, "num_chunks": self.num_chunks(total_rows), "stats": stats.to_dict()}
        atomic_write_json(self.shard_path(shard_index, num_shards), record)

    def num_chunks(self, total_rows: int) -> int:
        return math.ceil(total_rows / self.chunk_size)

    def total_rows(self) -> int | None:
        """The corpus length, as recorded by any finished shard (every shard reads the whole corpus)."""
        for path in sorted((self.root / "shards").glob("shard-*.json")):
            return int(json.loads(path.read_text())["total_rows"])
        return None

    def complete_chunks(self) -> list[Path]:
        """Every chunk in corpus order; raises naming the missing ones when the job is not finished."""
        total = self.total_rows()
        if total is None:
            raise SppConfigError(
                "no shard of this job has finished yet", source=self.root.parent, fix="run every shard, then merge"
            )
        missing = [c for c in range(self.num_chunks(total)) if not self.has_chunk(c)]
        if missing:
            raise SppConfigError(
                f"{len(missing)} chunks are not written yet (first: chunk {missing[0]})",
                source=self.root.parent,
                fix="run (or rerun) the unfinished shards with the same recipe; chunk c belongs to shard c % num_shards",
            )
        return [self.chunk_path(c) for c in range(self.num_chunks(total))]
