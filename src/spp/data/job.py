"""The ``spp augment`` job: drive ``Augmenter`` over a corpus in chunks, sharded and resumable, then merge.

Promises:
- Rows come out in corpus order, one output row per input row, whatever the shard count (chunk ``c`` of
  ``chunk_size`` rows is processed by shard ``c % num_shards``; the merge concatenates chunks in order).
- A killed job loses at most the chunk it was writing; a rerun with the same recipe continues and the merged dataset
  equals an uninterrupted run's, row for row.
- The final folder opens with ``datasets.load_from_disk`` and holds ``spp.json`` (provenance, counts by status,
  harm-score histogram) and ``summary.json``; counts are summed from the chunks' own statistics.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import tempfile
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.contract import ReflectionContract, record_contract
from spp.data.augment import Augmenter, AugmentStats
from spp.data.fit import ReflectionFitConfig
from spp.data.scoring import HarmScoreConfig, build_scorer
from spp.data.selection import SelectionConfig, stratified_rest_probability
from spp.data.shards import SCHEMA, JobState, atomic_write_json, carried_columns, output_schema, schema_for
from spp.data.sources import SourceConfig, load_source, resolve_id_column
from spp.errors import SppConfigError, check_output_dir
from spp.generate.base import GeneratorConfig, build_generator
from spp.generate.validate import ValidationConfig
from spp.persona.cli import PersonaConfig
from spp.recipes import RUNTIME_FIELDS, resolved_recipe

logger = logging.getLogger("spp.data")

# Fields that change where or how fast the job runs, not which rows it writes.
JOB_RUNTIME_FIELDS = RUNTIME_FIELDS | {
    "num_shards",
    "shard_index",
    "merge",
    "overwrite",
    "hub_repo_id",
    "progress",
    "streaming",
    "base_urls",
    "api_key_env",
    "max_concurrency",
    "request_timeout_s",
    "backoff_base_s",
    "backoff_max_s",
    "generation_batch_size",
    "device",
    "harm_batch_size",
    "harm_device",
    "pipeline_chunks",
}


@dataclass
class AugmentJobConfig:
    """Where the augmented corpus goes and how the job is split."""

    output_dir: str = field(default="outputs/augment-demo", metadata={"help": "Folder of the augmented dataset."})
    num_shards: int = field(default=1, metadata={"help": "Number of shards (e.g. the size of a Slurm array)."})
    shard_index: int = field(default=0, metadata={"help": "Which shard this process runs, 0-based."})
    chunk_size: int = field(
        default=500,
        metadata={
            "help": "Rows per committed chunk: a killed job loses at most one chunk. A chunk's selected rows are "
            "generated together, so with a server fleet give it several times max_concurrency selected rows."
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
            "flight reach pipeline_chunks x max_concurrency. Chunks are still committed one by one."
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
        check_output_dir(self.output_dir)


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


def _fingerprint(recipe: dict[str, Any]) -> str:
    return _sha256(recipe)


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
    """One shard of an augmentation job, plus the merge."""

    def __init__(self, configs: AugmentConfigs):
        self.configs = configs
        self.job = configs.job
        self.output_dir = Path(self.job.output_dir)
        if self.job.overwrite and self.output_dir.exists() and not self.job.merge:
            shutil.rmtree(self.output_dir)
        self.state = JobState(self.output_dir, self.job.chunk_size)
        self.carried: dict[str, str] = {}  # source column -> output column, set when the source is loaded

    def _owned(self, index: int) -> bool:
        return index % self.job.num_shards == self.job.shard_index and not self.state.has_chunk(index)

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

    def run_shard(self) -> dict[str, Any]:
        """Process this shard's missing chunks; returns the shard's summary (this run's rate and overhead too)."""
        from tqdm.auto import tqdm

        c = self.configs
        data = load_source(c.source)
        id_column = resolve_id_column(data, c.source)
        if id_column and self.job.duplicate_ids == "error" and hasattr(data, "__len__"):
            check_duplicate_ids(data, id_column)
        resolve_rest_probability(data, c)
        self.state.claim(_fingerprint(c.recipe()), c.recipe())
        self.state.remove_partial_writes(self._owned)
        augmenter = self._augmenter(data)
        self._carry_source_columns(data, augmenter)
        start, total, run = time.perf_counter(), 0, AugmentStats()
        bar = tqdm(total=self._owned_rows(data), unit="doc", desc="augment", disable=not self.job.progress)
        in_flight: deque = deque()

        def commit_oldest() -> None:
            index, future = in_flight.popleft()
            columns, stats = future.result()
            self.state.write_chunk(index, columns, stats)
            run.add(stats)
            bar.update(stats.rows)

        with augmenter.generator, bar, ThreadPoolExecutor(self.job.pipeline_chunks) as workers:
            for index, rows, batch in _batches(data, self.job.chunk_size, self._owned):
                total += rows
                if batch is None:
                    continue
                in_flight.append((index, workers.submit(self._rows, batch, augmenter)))
                if len(in_flight) >= self.job.pipeline_chunks:
                    commit_oldest()
            while in_flight:
                commit_oldest()
        elapsed = time.perf_counter() - start
        shard_stats = self._shard_stats(total)
        self.state.finish_shard(self.job.shard_index, self.job.num_shards, total, shard_stats)
        return summary(shard_stats, total_rows=total, run=run, elapsed_s=elapsed, busy_s=augmenter.busy.seconds)

    def _shard_stats(self, total_rows: int) -> AugmentStats:
        stats = AugmentStats()
        for index in range(self.state.num_chunks(total_rows)):
            if index % self.job.num_shards == self.job.shard_index:
                stats.add(self.state.chunk_stats(index))
        return stats

    def merge(self) -> dict[str, Any]:
        """Assemble every chunk, in corpus order, into the final dataset with ``spp.json`` and ``summary.json``."""
        files = self.state.complete_chunks()
        stats = AugmentStats()
        for index in range(len(files)):
            stats.add(self.state.chunk_stats(index))
        dataset = _save_dataset(files, self.output_dir, self.state.root, keep_harm=_was_scored(stats))
        duplicates = _duplicate_count(dataset)
        if duplicates and self.job.duplicate_ids == "error" and _named_id_column(self.configs) is not None:
            raise SppConfigError(
                f"{duplicates} rows repeat an id seen earlier",
                field="id_column",
                fix="make ids unique or pass --duplicate_ids keep",
            )
        result = summary(stats, total_rows=len(dataset))
        result["duplicate_ids"] = duplicates
        atomic_write_json(self.output_dir / "summary.json", result)
        meta = dataset_metadata(self.configs, result)
        meta.save(self.output_dir)
        _render_card(meta, dataset.features, self.output_dir)
        if self.job.hub_repo_id:
            from spp.hub.publish import publish_dataset

            publish_dataset(self.output_dir, repo_id=self.job.hub_repo_id, metadata=meta)
        return result


def _named_id_column(configs: AugmentConfigs) -> str | None:
    """The id column the config names explicitly (``None``: ids may be text hashes, whose duplicates are identical)."""
    return configs.source.id_column if configs.source.id_column not in (None, "", "none") else None


def _was_scored(stats: AugmentStats) -> bool:
    return any(key != "missing" for key in stats.harm_histogram)


def _duplicate_count(dataset) -> int:
    import pyarrow.compute as pc

    ids = dataset.data.column("id")
    return len(ids) - len(pc.unique(ids))


def _save_dataset(files: list[Path], output_dir: Path, work: Path, keep_harm: bool):
    """Concatenate the chunk files and ``save_to_disk`` them into ``output_dir`` (replacing an earlier merge)."""
    import pyarrow.parquet as pq
    from datasets import Dataset, Features, load_from_disk

    schema = pq.read_schema(files[0]).remove_metadata() if files else SCHEMA
    features = Features.from_arrow_schema(schema)
    with tempfile.TemporaryDirectory(dir=work, prefix="merge-") as tmp:
        data = Dataset.from_parquet([str(f) for f in files], features=features, cache_dir=str(Path(tmp) / "cache"))
        if not keep_harm:
            data = data.remove_columns("harm_score")
        staged = Path(tmp) / "dataset"
        data.save_to_disk(str(staged))
        del data
        for old in [*output_dir.glob("data-*.arrow"), output_dir / "state.json", output_dir / "dataset_info.json"]:
            old.unlink(missing_ok=True)
        for new in staged.iterdir():
            shutil.move(str(new), output_dir / new.name)
    return load_from_disk(str(output_dir))


def dataset_metadata(configs: AugmentConfigs, result: dict[str, Any]):
    """``spp.json`` of the augmented corpus: persona, constitution, block format, prompt hash, provenance, counts."""
    from spp.metadata import SppMetadata
    from spp.recipes import recipe_hash

    renderer = configs.persona.renderer(configs.contract)
    constitution = renderer.constitution
    source, harm = configs.source.describe(), configs.harm
    details = {
        "source": source,
        "selection": configs.selection.describe(),
        "generator": {"backend": configs.generator.backend, "model": configs.generator.model},
        "harm": {
            "scorer": harm.harm_scorer,
            "model": harm.harm_model if harm.harm_scorer == "transformers" else harm.harm_scorer,
            "aggregation": harm.harm_aggregation,
            "threshold": configs.selection.harm_threshold,
        },
        "pause": {
            "distribution": configs.persona.pause_distribution,
            "min_fraction": configs.persona.pause_min_fraction,
        },
        "placement": configs.fit.placement,
        "reflection_tokens": result.get("reflection_tokens", {}),
        "trimmed": result.get("trimmed", {}),
        **{k: result[k] for k in ("rows", "selected", "counts", "rejected", "failed", "canaries", "harm_histogram")},
        "rows_at_or_above_threshold": result["harmful_rows"],
        "empty_documents": result["empty_documents"],
        "duplicate_ids": result.get("duplicate_ids", 0),
        "tokens_in": result["tokens_in"],
        "tokens_out": result["tokens_out"],
    }
    meta = SppMetadata(
        kind="dataset",
        persona=renderer.persona.to_dict(),
        constitution={
            "name": constitution.name,
            "version": constitution.version,
            "hash": _sha256(constitution.to_dict()),
        },
        block_format={"marker": renderer.block_format.marker, "end_marker": renderer.block_format.end_marker},
        prompt_hash=renderer.prompt_hash(),
        recipe_hash=recipe_hash(*configs.all(), exclude=JOB_RUNTIME_FIELDS),
        lineage={"source": {"repo_id": source["id"], "revision": source["revision"]}},
        details=details,
    )
    return record_contract(
        meta,
        configs.contract,
        tokenizer=configs.fit.training_tokenizer or None,
        over_budget=configs.fit.over_budget if configs.fit.training_tokenizer else None,
        enforced=bool(configs.fit.training_tokenizer),
        harm_threshold=configs.selection.harm_threshold,
    )


def _sha256(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _render_card(meta, features, output_dir: Path) -> None:
    """Write ``README.md`` with ``spp.hub``'s dataset card, when that module is installed."""
    try:
        from spp.hub.cards import render_dataset_card
    except ImportError:
        logger.info("spp.hub is not available: no README.md card written (spp.json holds the same facts)")
        return
    render_dataset_card(meta, features).save(output_dir / "README.md")


def summary(
    stats: AugmentStats,
    total_rows: int,
    run: AugmentStats | None = None,
    elapsed_s: float | None = None,
    busy_s: float | None = None,
) -> dict[str, Any]:
    """The summary printed at the end and written to ``summary.json``; ``run``, ``elapsed_s`` and ``busy_s`` (wall
    time with a generator or scorer call in flight) together add this run's speed and overhead."""
    out: dict[str, Any] = {
        "rows": total_rows,
        "rows_in_shard": stats.rows,
        "selected": stats.selected,
        "counts": dict(sorted(stats.status.items())),
        "rejected": dict(sorted(stats.rejected.items())),
        "failed": dict(sorted(stats.failed.items())),
        "empty_documents": stats.empty_documents,
        "canaries": dict(sorted(stats.canaries.items())),
        "harm_histogram": dict(
            sorted(
                stats.harm_histogram.items(),
                key=lambda kv: (kv[0] == "missing", float(kv[0]) if kv[0] != "missing" else 0.0),
            )
        ),
        "harmful_rows": stats.harmful_rows,
        "tokens_in": stats.tokens_in,
        "tokens_out": stats.tokens_out,
        "trimmed": dict(sorted(stats.trimmed.items())),
        "reflection_tokens": dict(sorted(stats.block_tokens.items(), key=lambda kv: int(kv[0]))),
    }
    if run is not None and elapsed_s is not None and busy_s is not None:
        # generator_/scorer_seconds add up every call's time (overlapping calls of pipelined chunks each count);
        # busy_seconds is the wall time with at least one call in flight, which the overhead share is taken from
        out["this_run"] = {
            "rows": run.rows,
            "seconds": round(elapsed_s, 3),
            "docs_per_s": round(run.rows / elapsed_s, 1) if elapsed_s > 0 else None,
            "generator_seconds": round(run.generator_seconds, 3),
            "scorer_seconds": round(run.scorer_seconds, 3),
            "busy_seconds": round(busy_s, 3),
            "overhead_share": round(1 - busy_s / elapsed_s, 4) if elapsed_s > 0 else None,
        }
    return out


def format_summary(result: dict[str, Any]) -> str:
    """A few readable lines of a summary."""
    lines = [
        f"rows: {result['rows']}  selected: {result['selected']}  empty documents: {result['empty_documents']}",
        "by status: " + ", ".join(f"{k} {v}" for k, v in result["counts"].items()),
    ]
    if result["rejected"]:
        lines.append("rejected by reason: " + ", ".join(f"{k} {v}" for k, v in result["rejected"].items()))
    if result["failed"]:
        lines.append("failed by error: " + ", ".join(f"{k} {v}" for k, v in result["failed"].items()))
    lines.append(
        f"canaries: {sum(result['canaries'].values())}  rows with harm score >= threshold: {result['harmful_rows']}"
    )
    lines.append(f"tokens in: {result['tokens_in']}  tokens out: {result['tokens_out']}")
    run = result.get("this_run")
    if run and run["rows"]:
        lines.append(
            f"this run: {run['rows']} docs in {run['seconds']} s ({run['docs_per_s']} docs/s); "
            f"time outside the generator and scorer: {run['overhead_share']:.1%}"
        )
    return "\n".join(lines)
