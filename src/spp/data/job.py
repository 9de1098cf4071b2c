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
- Layout: this module holds the configs and ``AugmentJob``; the chunk loop is ``spp.data.shard_run``, the corpus
  checks of a rerun ``spp.data.resume``, the merge and summary ``spp.data.merge``.
- The final folder (see ``spp.data.merge``) opens with ``datasets.load_from_disk`` and holds ``spp.json``,
  ``summary.json`` and a card; counts are summed from the chunks' own statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.checks import AT_LEAST_ONE, FRACTION
from spp.contract import ReflectionContract
from spp.data.executor import EXECUTOR_FIELDS, ExecutorConfig
from spp.data.fit import ReflectionFitConfig
from spp.data.jobdir import CHUNKED_JOB_RUNTIME_FIELDS, ClaimedJob
from spp.data.merge import (  # noqa: F401 - re-exported: the job's public API
    dataset_metadata,
    failure_report,
    format_summary,
    merge_job,
    summary,
)
from spp.data.resume import CORPUS_CHANGE_POLICIES
from spp.data.scoring import HarmScoreConfig
from spp.data.selection import SelectionConfig
from spp.data.shard_run import ShardRun
from spp.data.shards import JobState
from spp.data.sources import SourceConfig
from spp.errors import SppConfigError
from spp.errors import check_output_dir as check_writable_folder
from spp.generate.base import GeneratorConfig
from spp.generate.validate import ValidationConfig
from spp.persona.config import PersonaConfig
from spp.recipes import recipe_hash, resolved_recipe

# Fields that change where or how fast the job runs, not which rows it writes.
DUPLICATE_ID_POLICIES = ("error", "keep")  # a source id seen twice: refuse, or keep every row (counted)
JOB_RUNTIME_FIELDS = CHUNKED_JOB_RUNTIME_FIELDS | EXECUTOR_FIELDS | {
    "streaming",
    "harm_batch_size",
    "harm_device",
    "pipeline_chunks",
    "server_kind",
    "on_corpus_change",
    "retry_failed",
    "max_failed_share",
}


@dataclass
class AugmentJobConfig:
    """Where the augmented corpus goes and how the job is split."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "num_shards": AT_LEAST_ONE,
        "chunk_size": AT_LEAST_ONE,
        "pipeline_chunks": AT_LEAST_ONE,
        "max_failed_share": FRACTION,
    }

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
            "values": "spp.data.job:DUPLICATE_ID_POLICIES",
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
            "values": "spp.data.resume:CORPUS_CHANGE_POLICIES",
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
        if self.duplicate_ids not in DUPLICATE_ID_POLICIES:
            raise SppConfigError("must be 'error' or 'keep'", field="duplicate_ids")
        if self.on_corpus_change not in CORPUS_CHANGE_POLICIES:
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


class AugmentJob(ClaimedJob):
    """One shard of an augmentation job, plus the merge. Holds the job folder's claim (``spp.data.jobdir.JobClaim``)
    until ``close``; the chunk loop is ``spp.data.shard_run``, the merge ``spp.data.merge``."""

    stage = "augment"

    @classmethod
    def identity(cls, configs: AugmentConfigs) -> tuple[str, list[str]]:
        return configs.recipe_hash(), [configs.source.dataset]

    def __init__(self, configs: AugmentConfigs):
        self.configs = configs
        self.job = configs.job
        self.output_dir = Path(self.job.output_dir)
        self.claim = self.take_claim(configs)
        self.state = JobState(self.output_dir, self.job.chunk_size)
        self.server_errors = ""  # failed tries by server and error kind in this run (for the exit summary)

    def run_shard(self) -> dict[str, Any]:
        """Process this shard's missing chunks (and regenerate committed chunks' failed rows); returns the shard's
        summary (this run's rate and overhead too). See ``spp.data.shard_run``."""
        shard = ShardRun(self.configs, self.state, self.output_dir)
        try:
            return shard.run()
        finally:
            self.server_errors = shard.server_errors

    def job_summary(self) -> dict[str, Any]:
        """The summary of every committed chunk (the whole job once every shard has finished)."""
        stats = self.state.stats_of(range(len(self.state.complete_chunks())))
        return summary(stats, total_rows=stats.rows)

    def failure(self, result: dict[str, Any] | None = None) -> str | None:
        """The exit-3 paragraph when too many selected documents failed (of ``result``, else the whole job)."""
        return failure_report(result or self.job_summary(), self.job.max_failed_share, self.server_errors)

    def merge(self) -> dict[str, Any]:
        """Verify and assemble every chunk, in corpus order, into the final dataset (``spp.data.merge``)."""
        result = merge_job(self.configs, self.state, self.output_dir)
        self.claim.finish()
        return result
