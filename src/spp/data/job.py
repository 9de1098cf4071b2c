"""The ``spp augment`` job: drive ``Augmenter`` over a corpus in chunks, sharded and resumable, then merge.

Promises:
- Rows come out in corpus order, one output row per input row, whatever the shard count (chunk ``c`` of
  ``chunk_size`` rows is processed by shard ``c % num_shards``; the merge concatenates chunks in order).
- A killed job loses at most the chunks it was generating (``pipeline_chunks``); a rerun with the same recipe
  continues and the merged dataset equals an uninterrupted run's, row for row.
- A rerun on a changed corpus is refused naming the change (``spp.data.identity``): a different row count, or a
  committed chunk whose input rows no longer match (``on_corpus_change: redo`` regenerates only such chunks).
- A rerun regenerates the ``failed`` rows of committed chunks (``retry_failed``), and only those.
- Before the first generation the servers are probed (exit 2 naming each URL and its OS error when none answers).
- One process per job folder (or per shard of an array): see ``spp.data.jobdir``.
- The final folder (see ``spp.data.merge``) opens with ``datasets.load_from_disk`` and holds ``spp.json``,
  ``summary.json`` and a card; counts are summed from the chunks' own statistics.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.contract import ReflectionContract
from spp.data.augment import REFLECTION_COLUMNS, Augmenter, AugmentStats, harm_key
from spp.data.executor import ExecutorConfig
from spp.data.fit import ReflectionFitConfig
from spp.data.identity import describe_change, range_fingerprint
from spp.data.jobdir import WORK_DIR, JobLock, check_output_dir, clear_job_dir, is_job_dir
from spp.data.merge import (  # noqa: F401 - re-exported: the job's public API
    dataset_metadata,
    failure_report,
    format_summary,
    merge_job,
    summary,
)
from spp.data.scoring import HarmScoreConfig, build_scorer
from spp.data.selection import SelectionConfig, stratified_rest_probability
from spp.data.shards import JobState, carried_columns, corpus_length_changed, output_schema, schema_for
from spp.data.sources import SourceConfig, load_source, resolve_id_column
from spp.errors import SppConfigError
from spp.errors import check_output_dir as check_writable_folder
from spp.generate.base import SERVER_RUNTIME_FIELDS, GeneratorConfig, build_generator
from spp.generate.validate import ValidationConfig
from spp.persona.config import PersonaConfig
from spp.recipes import RUNTIME_FIELDS, recipe_hash, resolved_recipe

logger = logging.getLogger("spp.data")

# Fields that change where or how fast the job runs, not which rows it writes.
JOB_RUNTIME_FIELDS = (
    RUNTIME_FIELDS
    | SERVER_RUNTIME_FIELDS
    | {
        "num_shards",
        "shard_index",
        "merge",
        "overwrite",
        "hub_repo_id",
        "progress",
        "streaming",
        "harm_batch_size",
        "harm_device",
        "pipeline_chunks",
        "server_kind",
        "on_corpus_change",
        "retry_failed",
        "max_failed_share",
        "executor",
        "tasks",
        "workers",
        "logging_dir",
        "slurm_partition",
        "slurm_time",
        "cpus_per_task",
        "mem_per_cpu_gb",
        "slurm_sbatch_args",
        "gpus_per_task",
        "slurm_env_command",
    }
)


@dataclass
class AugmentJobConfig:
    """Where the augmented corpus goes and how the job is split."""

    output_dir: str = field(default="outputs/augment-demo", metadata={"help": "Folder of the augmented dataset."})
    num_shards: int = field(default=1, metadata={"help": "Number of shards (e.g. the size of a Slurm array)."})
    shard_index: int = field(default=0, metadata={"help": "Which shard this process runs, 0-based."})
    chunk_size: int = field(
        default=500,
        metadata={
            "help": "Rows per committed chunk: a killed job loses at most the pipeline_chunks chunks it was "
            "generating. A chunk's selected rows are generated together, so with a server fleet give it several "
            "times max_concurrency selected rows."
        },
    )
    merge: bool = field(
        default=False,
        metadata={"help": "Only merge finished shards into the final dataset (automatic when num_shards is 1)."},
    )
    overwrite: bool = field(default=False, metadata={"help": "Discard an existing job in output_dir and start over."})
    duplicate_ids: str = field(
        default="error",
        metadata={
            "help": "Source ids seen twice: 'error' (name the id) or 'keep' (keep every row, count them). Ids hashed "
            "from the text are always kept: they are identical documents."
        },
    )
    hub_repo_id: str | None = field(
        default=None, metadata={"help": "After merging, publish the dataset to this Hub repo (spp.hub)."}
    )
    progress: bool = field(default=True, metadata={"help": "Show a progress bar (docs/s, ETA)."})
    pipeline_chunks: int = field(
        default=1,
        metadata={
            "help": "Chunks generated at once (openai backend): the next chunk's requests start while the last "
            "ones of the current chunk are still out, so the servers never idle at a chunk's tail. Requests in "
            "flight reach pipeline_chunks x max_concurrency. Chunks are still committed one by one, and a kill "
            "loses the pipeline_chunks chunks in flight."
        },
    )
    on_corpus_change: str = field(
        default="error",
        metadata={
            "help": "A rerun whose corpus differs from the one the job started on: 'error' (exit 2 naming the "
            "change) or 'redo' (regenerate only the chunks whose input rows changed; rerun every shard)."
        },
    )
    retry_failed: bool = field(
        default=True,
        metadata={"help": "A rerun regenerates the 'failed' rows (no answer from any server) of committed chunks."},
    )
    max_failed_share: float = field(
        default=0.05,
        metadata={
            "help": "Exit 3 without merging when more than this share of the selected documents failed (the "
            "summary names the servers and errors); a rerun regenerates them. 1: merge whatever failed."
        },
    )

    def __post_init__(self) -> None:
        if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
            raise SppConfigError(
                f"shard_index {self.shard_index} is outside 0..num_shards-1 (num_shards {self.num_shards})",
                field="shard_index",
            )
        if self.chunk_size < 1:
            raise SppConfigError("must be at least 1", field="chunk_size")
        if self.pipeline_chunks < 1:
            raise SppConfigError("must be at least 1", field="pipeline_chunks")
        if self.duplicate_ids not in ("error", "keep"):
            raise SppConfigError("must be 'error' or 'keep'", field="duplicate_ids")
        if self.on_corpus_change not in ("error", "redo"):
            raise SppConfigError("must be 'error' or 'redo'", field="on_corpus_change")
        if not 0 <= self.max_failed_share <= 1:
            raise SppConfigError("must be between 0 and 1", field="max_failed_share")
        if self.overwrite and self.num_shards > 1:
            raise SppConfigError(
                "--overwrite with num_shards > 1 would let every shard delete the others' work",
                field="overwrite",
                fix="delete the output folder (or run once with --overwrite true --num_shards 1 --max_documents 0) "
                "before starting the array",
            )
        check_writable_folder(self.output_dir)


@dataclass
class AugmentConfigs:
    """Every config of the job, as ``spp augment`` parses them."""

    job: AugmentJobConfig = field(default_factory=AugmentJobConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    harm: HarmScoreConfig = field(default_factory=HarmScoreConfig)
    persona: PersonaConfig = field(default_factory=PersonaConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    contract: ReflectionContract = field(default_factory=ReflectionContract)
    fit: ReflectionFitConfig = field(default_factory=ReflectionFitConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)  # where the job runs, not what it writes

    def all(self) -> tuple:
        return (
            self.job,
            self.source,
            self.selection,
            self.harm,
            self.persona,
            self.generator,
            self.validation,
            self.contract,
            self.fit,
        )

    def recipe(self) -> dict[str, Any]:
        """Everything that decides the rows (runtime fields excluded): the job's fingerprint input."""
        return resolved_recipe(*self.all(), exclude=JOB_RUNTIME_FIELDS)

    def recipe_hash(self) -> str:
        return recipe_hash(*self.all(), exclude=JOB_RUNTIME_FIELDS)


def _fingerprint(recipe: dict[str, Any]) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(recipe, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def check_duplicate_ids(data, id_column: str) -> None:
    """Raise naming the first id that occurs twice (map-style sources with an id column)."""
    first: dict[str, int] = {}
    for row, doc_id in enumerate(data[id_column]):
        if doc_id in first:
            raise SppConfigError(
                f"id {doc_id!r} occurs twice (rows {first[doc_id]} and {row})",
                field="id_column",
                fix="make ids unique, leave id_column empty to hash the text, or pass --duplicate_ids keep",
            )
        first[doc_id] = row


def resolve_rest_probability(data, configs: AugmentConfigs) -> None:
    """Stratified selection without a given ``rest_probability``: the counting pass over the scored corpus."""
    sel, harm_column = configs.selection, configs.harm.harm_score_column
    if sel.selection != "stratified" or sel.rest_probability is not None:
        return
    columns = list(data.features or next(iter(data.take(1)), {}))
    if harm_column not in columns:
        raise SppConfigError(
            f"stratified selection needs either rest_probability or a scored corpus (a {harm_column!r} column)",
            field="rest_probability",
            fix="run `spp score-harm` first and augment its output, or set --rest_probability",
        )
    if hasattr(data, "__len__"):
        texts, scores = data[configs.source.text_column], data[harm_column]
    else:
        rows = list(data.select_columns([configs.source.text_column, harm_column]))
        texts, scores = [r[configs.source.text_column] for r in rows], [r[harm_column] for r in rows]
    sel.rest_probability = stratified_rest_probability(texts, scores, sel.harm_threshold)
    logger.info(
        "counting pass: rest_probability = %.6f (equal character mass to harmful documents)", sel.rest_probability
    )


def _batches(data, chunk_size: int, owned) -> Any:
    """``(chunk index, rows in it, columns or None)`` for every chunk in corpus order; columns only where owned.

    A map-style dataset is sliced directly; a stream is read to its end by every shard (its length is known only
    then), which is cheap next to generation.
    """
    if hasattr(data, "__len__"):
        for index in range(math.ceil(len(data) / chunk_size)):
            rows = min(chunk_size, len(data) - index * chunk_size)
            yield index, rows, (data[index * chunk_size : (index + 1) * chunk_size] if owned(index) else None)
        return
    for index, batch in enumerate(data.iter(batch_size=chunk_size)):
        yield index, len(next(iter(batch.values()))), (batch if owned(index) else None)


class AugmentJob:
    """One shard of an augmentation job, plus the merge. Holds the job folder's lock until ``close``."""

    def __init__(self, configs: AugmentConfigs):
        self.configs = configs
        self.job = configs.job
        self.output_dir = Path(self.job.output_dir)
        check_output_dir(self.output_dir, self.job.overwrite)
        # what this run creates, so that a run refused before it claims the job leaves nothing behind
        self._made = [p for p in (self.output_dir, self.output_dir / WORK_DIR) if not p.exists()]
        self.lock = JobLock(self.output_dir)
        try:
            if self.job.merge:
                self.lock.exclusive("merge")
            elif self.job.num_shards == 1:
                self.lock.exclusive("job")
            else:
                self.lock.shard(self.job.shard_index, self.job.num_shards)
            if self.job.overwrite and not self.job.merge and is_job_dir(self.output_dir):
                clear_job_dir(self.output_dir)
        except BaseException:
            self.lock.release()
            raise
        self.state = JobState(self.output_dir, self.job.chunk_size)
        self.carried: dict[str, str] = {}  # source column -> output column, set when the source is loaded
        self.server_errors = ""  # failed tries by server and error kind in this run (for the exit summary)

    def close(self) -> None:
        """Release the job folder's lock."""
        self.lock.release()

    def __enter__(self) -> AugmentJob:
        return self

    def __exit__(self, kind, *exc: object) -> None:
        self.close()
        if kind is not None and self._made and not self.state.job_path.is_file():
            self._remove_unclaimed()

    def _remove_unclaimed(self) -> None:
        """Remove the folders this run made (only locks and empty folders are in them: no job was claimed)."""
        for path in reversed(self._made):
            if path.name == WORK_DIR:
                shutil.rmtree(path, ignore_errors=True)
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()

    def _mine(self, index: int) -> bool:
        return index % self.job.num_shards == self.job.shard_index

    def _owned(self, index: int) -> bool:
        return self._mine(index) and not self.state.has_chunk(index)

    def _owned_rows(self, data) -> int | None:
        if not hasattr(data, "__len__"):
            return None
        size, step = len(data), self.job.chunk_size
        return sum(min(step, size - i * step) for i in range(math.ceil(size / step)) if self._owned(i))

    def _augmenter(self, data) -> Augmenter:
        c = self.configs
        renderer = c.persona.renderer(c.contract)
        generator = build_generator(c.generator, renderer, c.validation)
        return Augmenter(
            generator,
            c.selection,
            scorer=build_scorer(c.harm),
            text_column=c.source.text_column,
            id_column=resolve_id_column(data, c.source),
            harm_column=c.harm.harm_score_column,
            pause_distribution=c.persona.pause_distribution,
            pause_min_fraction=c.persona.pause_min_fraction,
            fit=c.fit.build(c.contract),
            placement=c.fit.placement,
        )

    def _carry_source_columns(self, data, augmenter: Augmenter) -> None:
        """Keep every other source column in the output (see ``carried_columns``); say so when it cannot."""
        features = getattr(data, "features", None)
        if features is None:
            logger.warning(
                "the streamed source declares no features: only its text and id columns are kept in the output "
                "(load it without streaming, or give the dataset declared features, to keep the others)"
            )
        consumed = {self.configs.source.text_column, augmenter.id_column, augmenter.harm_column} - {None}
        own = schema_for(self.configs.fit.placement)
        self.carried = carried_columns(features, consumed, own)
        self.state.schema = output_schema(features, self.carried, own)
        renamed = {name: out for name, out in self.carried.items() if name != out}
        if renamed:
            logger.warning("source columns renamed to keep them beside spp's own: %s", renamed)

    def _rows(self, batch: dict[str, list], augmenter: Augmenter) -> tuple[dict[str, list], AugmentStats]:
        columns, stats = augmenter.augment(batch)
        columns["text"] = batch[self.configs.source.text_column]
        columns["harm_score"] = columns.get(augmenter.harm_column, batch.get(augmenter.harm_column))
        columns |= {out: batch[name] for name, out in self.carried.items()}
        return columns, stats

    def _regenerate_failed(self, index: int, augmenter: Augmenter) -> tuple[dict[str, list], AugmentStats]:
        """Chunk ``index`` with its ``failed`` rows generated again (every other row as it was) and its stats."""
        columns = self.state.read_chunk(index).to_pydict()
        stats = self.state.chunk_stats(index)
        rows = [i for i, status in enumerate(columns["reflection_status"]) if status == "failed"]
        pick = lambda name: [columns[name][i] for i in rows]  # noqa: E731
        batch = {self.configs.source.text_column: pick("text"), augmenter.harm_column: pick("harm_score")}
        if augmenter.id_column:
            batch[augmenter.id_column] = pick("id")
        scores = batch[augmenter.harm_column]
        removed = AugmentStats(rows=len(rows), selected=len(rows))
        removed.status["failed"] = len(rows)
        removed.failed.update(str(r) for r in pick("reflection_reason"))
        removed.harm_histogram.update(harm_key(s) for s in scores)
        removed.harmful_rows = sum(s is not None and s >= self.configs.selection.harm_threshold for s in scores)
        new, new_stats = augmenter.augment(batch)
        if new["id"] != pick("id") or new_stats.selected != len(rows):
            raise RuntimeError(f"chunk {index}: regenerating its failed rows did not select the same documents")
        for name in REFLECTION_COLUMNS:
            for i, value in zip(rows, new[name], strict=True):
                columns[name][i] = value
        stats.subtract(removed)
        stats.add(new_stats)
        return columns, stats

    def _check_committed(self, index: int, batch: dict[str, list], fingerprint: str, augmenter: Augmenter) -> bool:
        """Whether committed chunk ``index`` still matches the corpus; raises naming the change (or, with
        ``on_corpus_change: redo``, deletes the chunk and returns ``False``)."""
        meta = self.state.checked_meta(index, self.job.num_shards)
        if meta.get("input_fingerprint") in (None, fingerprint):
            return True
        if self.job.on_corpus_change == "redo":
            logger.warning("chunk %d: its input rows changed; generating it again", index)
            self.state.chunk_path(index).unlink()
            return False
        old = self.state.read_chunk(index).select(["id", "text"]).to_pydict()
        text = batch[self.configs.source.text_column]
        new_ids = augmenter._ids(batch, text)
        first = index * self.job.chunk_size
        change = describe_change(first, old["id"], new_ids, old["text"], text)
        raise SppConfigError(
            f"the corpus changed since chunk {index} (rows {first}-{first + len(old['id']) - 1}) was generated: "
            f"{change}",
            source=self.output_dir,
            field="dataset",
            fix="restore the corpus, use a new output_dir, pass --on_corpus_change redo (regenerates only the "
            "chunks whose rows changed) or --overwrite true",
        )

    def _length_changed(self, was: int, now: int | None) -> None:
        """``now`` is ``None`` for a stream found longer than ``was`` (its new length is known at its end)."""
        if self.job.on_corpus_change == "redo":
            logger.warning("the corpus is no longer %d rows long: regenerating the chunks that changed", was)
            self.state.set_corpus_rows(now)
            return
        raise corpus_length_changed(self.output_dir, was, now)

    def run_shard(self) -> dict[str, Any]:
        """Process this shard's missing chunks (and regenerate committed chunks' failed rows); returns the shard's
        summary (this run's rate and overhead too)."""
        from tqdm.auto import tqdm

        c = self.configs
        data = load_source(c.source)
        id_column = resolve_id_column(data, c.source)
        if id_column and self.job.duplicate_ids == "error" and hasattr(data, "__len__"):
            check_duplicate_ids(data, id_column)
        resolve_rest_probability(data, c)
        corpus_rows = len(data) if hasattr(data, "__len__") else None
        known = self.state.corpus_rows() if self.state.job_path.is_file() else None
        if corpus_rows is not None and known is not None and corpus_rows != known:
            self._length_changed(known, corpus_rows)
        self.state.claim(_fingerprint(c.recipe()), c.recipe(), corpus_rows)
        known = self.state.corpus_rows()
        self.state.remove_partial_writes(self._owned)
        self.state.remove_merge_leftovers()
        augmenter = self._augmenter(data)
        self._carry_source_columns(data, augmenter)
        identity = [c.source.text_column, augmenter.id_column or "", augmenter.harm_column]
        start, total, run = time.perf_counter(), 0, AugmentStats()
        bar = tqdm(total=self._owned_rows(data), unit="doc", desc="augment", disable=not self.job.progress)
        in_flight: deque = deque()
        probed = False

        def submit(index: int, fn, *args) -> None:
            nonlocal probed
            if not probed:
                augmenter.generator.check_reachable()
                probed = True
            in_flight.append((index, workers.submit(fn, *args)))
            if len(in_flight) >= self.job.pipeline_chunks:
                commit_oldest()

        def commit_oldest() -> None:
            index, future = in_flight.popleft()
            columns, stats, fingerprint, regenerated = future.result()
            self.state.write_chunk(index, columns, stats, fingerprint)
            if regenerated:
                run.add(AugmentStats(generator_seconds=stats.generator_seconds))
            else:
                run.add(stats)
                bar.update(stats.rows)

        def generate(batch, fingerprint):
            return (*self._rows(batch, augmenter), fingerprint, False)

        def regenerate(index, fingerprint):
            return (*self._regenerate_failed(index, augmenter), fingerprint, True)

        try:
            with augmenter.generator, bar, ThreadPoolExecutor(self.job.pipeline_chunks) as workers:
                for index, rows, batch in _batches(data, self.job.chunk_size, self._mine):
                    if known is not None and total >= known:
                        self._length_changed(known, None)  # a stream with rows appended
                        known = None
                    total += rows
                    if batch is None:
                        continue
                    fingerprint = range_fingerprint(batch, identity)
                    if self.state.has_chunk(index) and self._check_committed(index, batch, fingerprint, augmenter):
                        if self.job.retry_failed and self.state.chunk_stats(index).status.get("failed"):
                            submit(index, regenerate, index, fingerprint)
                        continue
                    submit(index, generate, batch, fingerprint)
                while in_flight:
                    commit_oldest()
        finally:
            self.server_errors = augmenter.generator.error_summary()
        if known is not None and total != known:
            self._length_changed(known, total)  # a stream with rows removed
        elapsed = time.perf_counter() - start
        shard_stats = self._shard_stats(total)
        self.state.finish_shard(self.job.shard_index, self.job.num_shards, total, shard_stats)
        return summary(shard_stats, total_rows=total, run=run, elapsed_s=elapsed, busy_s=augmenter.busy.seconds)

    def _shard_stats(self, total_rows: int) -> AugmentStats:
        stats = AugmentStats()
        for index in range(self.state.num_chunks(total_rows)):
            if self._mine(index):
                stats.add(self.state.chunk_stats(index))
        return stats

    def job_summary(self) -> dict[str, Any]:
        """The summary of every committed chunk (the whole job once every shard has finished)."""
        files = self.state.complete_chunks()
        stats = AugmentStats()
        for index in range(len(files)):
            stats.add(self.state.chunk_stats(index))
        return summary(stats, total_rows=stats.rows)

    def failure(self, result: dict[str, Any] | None = None) -> str | None:
        """The exit-3 paragraph when too many selected documents failed (of ``result``, else the whole job)."""
        return failure_report(result or self.job_summary(), self.job.max_failed_share, self.server_errors)

    def merge(self) -> dict[str, Any]:
        """Verify and assemble every chunk, in corpus order, into the final dataset (``spp.data.merge``)."""
        return merge_job(self.configs, self.state, self.output_dir)
