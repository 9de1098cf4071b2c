"""The chunk loop of one ``spp augment`` shard: read the corpus in chunks, generate the missing ones, commit in order.

Promises:
- Chunk ``c`` of ``chunk_size`` rows is processed by shard ``c % num_shards`` (``spp.data.shards.owned_by``); every
  other chunk is only counted. Chunks are committed one by one in corpus order, each whole or not at all.
- Up to ``pipeline_chunks`` chunks are generated at once; a kill loses at most those.
- A committed chunk is reused only when its input rows still match the corpus (``spp.data.resume``); its ``failed``
  rows are generated again when ``retry_failed`` (and only those).
- Before the first generation the servers are probed (exit 2 naming each URL and its OS error when none answers).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spp.data.augment import REFLECTION_COLUMNS, Augmenter, AugmentStats, harm_key
from spp.data.identity import range_fingerprint, sha256_json
from spp.data.merge import summary
from spp.data.resume import ResumeCheck
from spp.data.scoring import build_scorer
from spp.data.selection import stratified_rest_probability
from spp.data.shards import JobState, carried_columns, output_schema, owned_by, schema_for
from spp.data.sources import load_source, resolve_id_column
from spp.errors import SppConfigError
from spp.generate.base import build_generator

if TYPE_CHECKING:
    from spp.data.job import AugmentConfigs

logger = logging.getLogger("spp.data")


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


class ShardRun:
    """One run of one shard over the job folder's ``state`` (which the caller has claimed)."""

    def __init__(self, configs: AugmentConfigs, state: JobState, output_dir: Path):
        self.configs = configs
        self.job = configs.job
        self.state = state
        self.output_dir = output_dir
        self.resume = ResumeCheck(
            state, output_dir, self.job.on_corpus_change, self.job.num_shards, configs.source.text_column
        )
        self.carried: dict[str, str] = {}  # source column -> output column, set when the source is loaded
        self.server_errors = ""  # failed tries by server and error kind in this run (for the exit summary)

    def _mine(self, index: int) -> bool:
        return owned_by(index, self.job.shard_index, self.job.num_shards)

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

    def run(self) -> dict[str, Any]:
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
            self.resume.length_changed(known, corpus_rows)
        self.state.claim(sha256_json(c.recipe()), c.recipe(), corpus_rows)
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
                        self.resume.length_changed(known, None)  # a stream with rows appended
                        known = None
                    total += rows
                    if batch is None:
                        continue
                    fingerprint = range_fingerprint(batch, identity)
                    if self.state.has_chunk(index) and self.resume.committed_matches(
                        index, batch, fingerprint, augmenter._ids
                    ):
                        if self.job.retry_failed and self.state.chunk_stats(index).status.get("failed"):
                            submit(index, regenerate, index, fingerprint)
                        continue
                    submit(index, generate, batch, fingerprint)
                while in_flight:
                    commit_oldest()
        finally:
            self.server_errors = augmenter.generator.error_summary()
        if known is not None and total != known:
            self.resume.length_changed(known, total)  # a stream with rows removed
        elapsed = time.perf_counter() - start
        mine = [i for i in range(self.state.num_chunks(total)) if self._mine(i)]
        shard_stats = self.state.stats_of(mine)
        self.state.finish_shard(self.job.shard_index, self.job.num_shards, total, shard_stats)
        return summary(shard_stats, total_rows=total, run=run, elapsed_s=elapsed, busy_s=augmenter.busy.seconds)
