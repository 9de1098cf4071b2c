"""The on-disk state of a resumable, sharded augmentation job.

Layout under ``<output_dir>/.spp-work/``:
- ``job.json``: the fingerprint of everything that decides the rows (source, selection, generator, persona,
  validation, chunk size) and the corpus's row count when known. A rerun with other settings, or on a corpus of
  another length, refuses to mix its rows with these.
- ``chunks/chunk-<c>.parquet``: rows ``[c * chunk_size, (c + 1) * chunk_size)`` of the corpus, in corpus order,
  with the chunk's ``AugmentStats``, its row range, the fingerprint of its input rows and of its output ids in the
  parquet metadata. Chunk ``c`` belongs to shard ``c % num_shards``, so the layout is the same whatever the shard
  count.
- ``shards/shard-<k>-of-<n>.json``: written when shard ``k`` has read the whole corpus: the corpus length and, per
  chunk it owns, the input fingerprint.
- ``locks/``: see ``spp.data.jobdir``.

Promises: a chunk file exists only complete (written to a temporary name, fsynced, then renamed), so a killed job
loses at most the chunks it was writing, and a rerun continues with the first missing chunk of its shard.
``verified_chunks`` (the merge) checks every chunk's row range, row count, ids and input fingerprint against its
own metadata and the shard manifests, and names a swapped, truncated or foreign chunk with the fix.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from spp.data.augment import PLACEMENT_PREFIXES, REFLECTION_COLUMNS, AugmentStats
from spp.data.identity import ids_fingerprint
from spp.data.jobdir import JOB_FILE, WORK_DIR
from spp.errors import SppConfigError

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


def owned_by(index: int, shard_index: int, num_shards: int) -> bool:
    """Whether chunk ``index`` belongs to shard ``shard_index`` of ``num_shards`` (chunk ``c`` to shard
    ``c % num_shards``, so the layout is the same whatever the shard count)."""
    return index % num_shards == shard_index


class JobState:
    """The chunks, shard manifests and fingerprint of one job directory."""

    def __init__(self, output_dir: str | Path, chunk_size: int, schema: pa.Schema = SCHEMA, stats_type=AugmentStats):
        self.root = Path(output_dir) / WORK_DIR
        self.chunk_size = chunk_size
        self.schema = schema
        self.stats_type = stats_type  # the chunks' statistics: AugmentStats, or a job's own with the same interface
        (self.root / "chunks").mkdir(parents=True, exist_ok=True)
        (self.root / "shards").mkdir(parents=True, exist_ok=True)

    @property
    def job_path(self) -> Path:
        return self.root / JOB_FILE

    def claim(self, fingerprint: str, recipe: dict[str, Any], corpus_rows: int | None = None) -> None:
        """Record the job's fingerprint and corpus length, or check an existing job's (``SppConfigError`` naming
        what changed). ``corpus_rows`` is ``None`` for a stream (its length is known only when read to the end)."""
        path = self.job_path
        if path.is_file():
            record = json.loads(path.read_text())
            if record.get("fingerprint") != fingerprint:
                raise SppConfigError(
                    "this output folder holds a job with different settings (source, selection, generator, persona "
                    "or chunk size)",
                    source=path.parent.parent,
                    field="output_dir",
                    fix="rerun with the same recipe, use a new output_dir, or pass --overwrite true",
                )
            known = self.corpus_rows()
            if corpus_rows is not None and known is not None and corpus_rows != known:
                raise corpus_length_changed(self.root.parent, known, corpus_rows)
            if corpus_rows is not None and record.get("corpus_rows") is None:
                atomic_write_json(path, record | {"corpus_rows": corpus_rows})
            return
        record = {
            "fingerprint": fingerprint,
            "chunk_size": self.chunk_size,
            "recipe": recipe,
            "corpus_rows": corpus_rows,
        }
        atomic_write_json(path, record)

    def corpus_rows(self) -> int | None:
        """The corpus length the job was started on (``job.json``), else as a finished shard read it."""
        if self.job_path.is_file():
            rows = json.loads(self.job_path.read_text()).get("corpus_rows")
            if rows is not None:
                return int(rows)
        return self.total_rows()

    def set_corpus_rows(self, rows: int | None) -> None:
        """Record a new corpus length (``on_corpus_change: redo``); the shard manifests of the old one go."""
        record = json.loads(self.job_path.read_text())
        atomic_write_json(self.job_path, record | {"corpus_rows": rows})
        for manifest in (self.root / "shards").glob("shard-*.json"):
            manifest.unlink()

    def chunk_path(self, index: int) -> Path:
        return self.root / "chunks" / f"chunk-{index:08d}.parquet"

    def has_chunk(self, index: int) -> bool:
        return self.chunk_path(index).is_file()

    def write_chunk(
        self, index: int, columns: dict[str, list], stats: AugmentStats, input_fingerprint: str, **extra: Any
    ) -> None:
        """Commit chunk ``index`` (atomically; an existing one is replaced) with its stats and fingerprints (and
        ``extra`` JSON-able facts in its metadata)."""
        schema = self.schema
        table = pa.Table.from_pydict({name: columns.get(name, [None] * stats.rows) for name in schema.names}, schema)
        meta = {
            "index": index,
            "first_row": index * self.chunk_size,
            "rows": table.num_rows,
            "input_fingerprint": input_fingerprint,
            "ids_fingerprint": ids_fingerprint(table.column("id").to_pylist()),
            "stats": stats.to_dict(),
            **extra,
        }
        self.write_table(index, table, meta)

    def write_table(self, index: int, table: pa.Table, meta: dict[str, Any]) -> None:
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

    def remove_merge_leftovers(self) -> int:
        """Delete what a killed merge left (its ``merge-*`` staging folders and temporary files)."""
        removed = 0
        for leftover in self.root.glob("merge-*"):
            shutil.rmtree(leftover, ignore_errors=True)
            removed += 1
        for leftover in self.root.parent.glob(".*.tmp-*"):
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed

    def _bad_chunk(self, index: int, problem: str, num_shards: int | None = None) -> SppConfigError:
        owner = f"shard {index % num_shards} of {num_shards}" if num_shards else f"the shard that owns chunk {index}"
        return SppConfigError(
            f"chunk {index} ({self.chunk_path(index).name}) {problem}",
            source=self.root.parent,
            fix=f"delete {self.chunk_path(index)} and rerun {owner} with the same recipe (it regenerates only that "
            "chunk), then merge again",
        )

    def chunk_meta(self, index: int) -> dict[str, Any]:
        try:
            meta = pq.read_schema(self.chunk_path(index)).metadata or {}
            return json.loads(meta[_META_KEY])
        except (OSError, pa.ArrowException, KeyError, ValueError) as err:
            raise self._bad_chunk(
                index, f"is unreadable, truncated or not spp's ({type(err).__name__}: {err})"
            ) from err

    def checked_meta(self, index: int, num_shards: int | None = None) -> dict[str, Any]:
        """``chunk_meta``, raising when the file holds another chunk's rows (copied or renamed)."""
        meta = self.chunk_meta(index)
        if meta.get("index") != index or meta.get("first_row") != index * self.chunk_size:
            raise self._bad_chunk(
                index,
                f"holds rows from row {meta.get('first_row')} (chunk {meta.get('index')}), not from row "
                f"{index * self.chunk_size}: it was copied or renamed from another chunk",
                num_shards,
            )
        return meta

    def read_chunk(self, index: int) -> pa.Table:
        try:
            return pq.read_table(self.chunk_path(index))
        except (OSError, pa.ArrowException) as err:
            raise self._bad_chunk(index, f"is unreadable or truncated ({type(err).__name__}: {err})") from err

    def chunk_stats(self, index: int) -> AugmentStats:
        return self.stats_type.from_dict(self.chunk_meta(index)["stats"])

    def stats_of(self, indices) -> AugmentStats:
        """The committed chunks' statistics, summed (a shard's chunks, or every chunk of the job)."""
        stats = self.stats_type()
        for index in indices:
            stats.add(self.chunk_stats(index))
        return stats

    def shard_path(self, shard_index: int, num_shards: int) -> Path:
        return self.root / "shards" / f"shard-{shard_index:05d}-of-{num_shards:05d}.json"

    def finish_shard(self, shard_index: int, num_shards: int, total_rows: int, stats: AugmentStats) -> None:
        chunks = {
            str(c): self.chunk_meta(c).get("input_fingerprint")
            for c in range(self.num_chunks(total_rows))
            if owned_by(c, shard_index, num_shards)
        }
        record = {
            "total_rows": total_rows,
            "num_chunks": self.num_chunks(total_rows),
            "chunks": chunks,
            "stats": stats.to_dict(),
        }
        atomic_write_json(self.shard_path(shard_index, num_shards), record)

    def num_chunks(self, total_rows: int) -> int:
        return math.ceil(total_rows / self.chunk_size)

    def total_rows(self) -> int | None:
        """The corpus length, as recorded by any finished shard (every shard reads the whole corpus)."""
        for path in sorted((self.root / "shards").glob("shard-*.json")):
            return int(json.loads(path.read_text())["total_rows"])
        return None

    def _manifest_fingerprints(self) -> tuple[dict[int, str], int | None]:
        """Input fingerprints by chunk, from every finished shard's manifest, and the latest shard count."""
        found: dict[int, str] = {}
        num_shards = None
        for path in sorted((self.root / "shards").glob("shard-*.json"), key=lambda p: p.stat().st_mtime):
            record = json.loads(path.read_text())
            found |= {int(c): fp for c, fp in record.get("chunks", {}).items() if fp}
            num_shards = int(path.stem.rsplit("-", 1)[1])
        return found, num_shards

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

    def verified_chunks(self) -> list[Path]:
        """``complete_chunks``, each checked: its row range and row count, its ids against the fingerprint it was
        written with, its input fingerprint against the shard manifest. Raises naming the first bad chunk."""
        files = self.complete_chunks()
        total = self.total_rows()
        manifest, num_shards = self._manifest_fingerprints()
        for index in range(len(files)):
            meta = self.checked_meta(index, num_shards)
            expected_rows = min(self.chunk_size, total - index * self.chunk_size)
            table = self.read_chunk(index)
            if table.num_rows != expected_rows or meta.get("rows", expected_rows) != expected_rows:
                raise self._bad_chunk(
                    index, f"has {table.num_rows} rows, the corpus range holds {expected_rows}", num_shards
                )
            stats_rows = int(meta.get("stats", {}).get("rows", expected_rows))
            if stats_rows != expected_rows:
                raise self._bad_chunk(index, f"counts {stats_rows} rows in its statistics, not {expected_rows}")
            found_ids = ids_fingerprint(table.column("id").to_pylist())
            if meta.get("ids_fingerprint") not in (None, found_ids):
                raise self._bad_chunk(index, "holds other ids than it was written with", num_shards)
            if index in manifest and meta.get("input_fingerprint") not in (None, manifest[index]):
                raise self._bad_chunk(
                    index, "was generated from other input rows than its shard recorded when it finished", num_shards
                )
        return files


def corpus_length_changed(job_dir: Path, was: int, now: int | None) -> SppConfigError:
    """``now`` is ``None`` for a stream found longer than ``was`` (rows appended)."""
    if now is None:
        found = f"it has more than {was} rows, the job was started on {was} (rows were added)"
    else:
        what = f"{now - was} rows were added" if now > was else f"{was - now} rows were removed"
        found = f"it has {now} rows, the job was started on {was} ({what})"
    return SppConfigError(
        f"the corpus changed since this job started: {found}",
        source=job_dir,
        field="dataset",
        fix="restore the corpus, use a new output_dir, pass --on_corpus_change redo (regenerates only the chunks "
        "whose rows changed) or --overwrite true",
    )
