"""Harm scoring as a job: one shard of the corpus scored into ``<output_dir>/.spp-shards/``, then the merge that
concatenates the shards in corpus order and records the score histogram in ``spp.json`` (``spp score-harm``).

Promises: rows are unchanged and in the same order, with a ``harm_score`` column added; a merge names the missing or
short shards and checks that they add up to the corpus length.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.checks import ANY, AT_LEAST_ONE
from spp.data.augment import harm_key
from spp.data.executor import EXECUTOR_FIELDS, ExecutorConfig
from spp.data.jobdir import CHUNKED_JOB_RUNTIME_FIELDS, ClaimedJob, JobResult, job_summary
from spp.data.scoring import HARM_SCORERS, HarmScoreConfig, HarmScoreMap, build_scorer
from spp.data.sources import SourceConfig, load_source
from spp.errors import SppConfigError, check_output_dir
from spp.metadata import SppMetadata
from spp.recipes import recipe_hash

logger = logging.getLogger("spp.data")


@dataclass
class ScoreJobConfig:
    """Where the scored dataset goes."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "harm_threshold": ANY,
        "score_batch_size": AT_LEAST_ONE,
        "num_shards": AT_LEAST_ONE,
    }

    output_dir: str = field(default="outputs/scored", metadata={"help": "Folder of the scored dataset."})
    harm_threshold: float = field(
        default=3.0, metadata={"help": "Rows at or above this score are counted as harmful in spp.json."}
    )
    score_batch_size: int = field(default=256, metadata={"help": "Documents per call of the scorer."})
    num_shards: int = field(default=1, metadata={"help": "Number of shards (e.g. the size of a Slurm array)."})
    shard_index: int = field(default=0, metadata={"help": "Which contiguous slice of the corpus to score, 0-based."})
    merge: bool = field(default=False, metadata={"help": "Only concatenate the finished shards, in corpus order."})
    overwrite: bool = field(
        default=False,
        metadata={"help": "Discard what spp wrote in output_dir before (another run's or stage's) and start over."},
    )

    def __post_init__(self) -> None:
        if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
            raise SppConfigError(
                f"shard_index {self.shard_index} is outside 0..num_shards-1 (num_shards {self.num_shards})",
                field="shard_index",
            )
        check_output_dir(self.output_dir)
        if self.score_batch_size < 1:
            raise SppConfigError(f"must be at least 1, got {self.score_batch_size}", field="score_batch_size")
        if self.overwrite and self.num_shards > 1:
            raise SppConfigError(
                "--overwrite with num_shards > 1 would let every shard delete the others' work",
                field="overwrite",
                fix="run once with --overwrite true and one shard on an empty corpus slice, or delete the folder",
            )


def score_dataset(data, scorer, text_column: str, column: str, batch_size: int = 256):
    """``data`` with ``column`` added by ``scorer`` (a ``Dataset`` or an ``IterableDataset``), same rows, same order."""
    fn = HarmScoreMap(scorer, text_column=text_column, column=column)
    if hasattr(data, "__len__"):
        # An explicit fingerprint: hashing a captured model would be slow and would not reuse the cache anyway.
        key = f"{data._fingerprint}:{scorer.model_id}:{json.dumps(vars(scorer.config), sort_keys=True)}"
        fingerprint = hashlib.sha256(key.encode()).hexdigest()[:16]
        return data.map(fn, batched=True, batch_size=batch_size, new_fingerprint=fingerprint, desc="score-harm")
    return data.map(fn, batched=True, batch_size=batch_size)


def harm_details(
    scores: list[float | None], threshold: float, config: HarmScoreConfig, model_id: str
) -> dict[str, Any]:
    """The ``spp.json`` details of a scored corpus: histogram and the count at or above ``threshold``."""
    histogram = Counter(harm_key(s) for s in scores)
    return {
        "rows": len(scores),
        "harm": {"scorer": config.harm_scorer, "model": model_id, "aggregation": config.harm_aggregation},
        "harm_threshold": threshold,
        "harm_histogram": dict(sorted(histogram.items())),
        "rows_at_or_above_threshold": sum(s is not None and s >= threshold for s in scores),
    }


SHARD_DIR = ".spp-shards"


def _shard_dir(out: Path, index: int, num_shards: int) -> Path:
    return out / SHARD_DIR / f"shard-{index:05d}-of-{num_shards:05d}"


def merge_shards(job: ScoreJobConfig, source: SourceConfig, harm: HarmScoreConfig, model_id: str):
    """Concatenate every shard's slice in order into ``output_dir``; raises naming missing or short shards."""
    from datasets import concatenate_datasets, load_from_disk

    out = Path(job.output_dir)
    dirs = [_shard_dir(out, k, job.num_shards) for k in range(job.num_shards)]
    missing = [k for k, d in enumerate(dirs) if not (d / "shard.json").is_file()]
    if missing:
        raise SppConfigError(
            f"{len(missing)} of {job.num_shards} shards are not finished (first: shard {missing[0]})",
            source=out,
            fix="run (or rerun) those shards with the same options, then merge",
        )
    records = [json.loads((d / "shard.json").read_text()) for d in dirs]
    parts = [load_from_disk(str(d / "data")) for d in dirs]
    for k, (record, part) in enumerate(zip(records, parts, strict=True)):
        if len(part) != record["rows"] or record["corpus_rows"] != records[0]["corpus_rows"]:
            raise SppConfigError(
                f"shard {k} holds {len(part)} rows of a {record['corpus_rows']}-row corpus, it recorded "
                f"{record['rows']} of {records[0]['corpus_rows']}",
                source=dirs[k],
                fix=f"delete {dirs[k]} and rerun shard {k}",
            )
    if sum(len(p) for p in parts) != records[0]["corpus_rows"]:
        raise SppConfigError("the shards do not add up to the corpus", source=out, fix="rerun every shard")
    merged = concatenate_datasets(parts)
    staged = out / SHARD_DIR / "merged"
    merged.save_to_disk(str(staged))
    for new in staged.iterdir():
        (out / new.name).unlink(missing_ok=True)
        new.rename(out / new.name)
    return load_from_disk(str(out))


def check_scorer(harm: HarmScoreConfig) -> None:
    """A scorer that scoring can use (known, not ``none``), checked without loading it."""
    if harm.harm_scorer == "none":
        raise SppConfigError(
            "harm_scorer is 'none': nothing to do", field="harm_scorer", fix="use offline or transformers"
        )
    if harm.harm_scorer not in HARM_SCORERS:
        raise SppConfigError(
            f"unknown harm scorer {harm.harm_scorer!r}",
            field="harm_scorer",
            fix=f"choose one of {sorted(HARM_SCORERS)}",
        )


@dataclass
class ScoreConfigs:
    """Every config of ``spp score-harm``."""

    job: ScoreJobConfig = field(default_factory=ScoreJobConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    harm: HarmScoreConfig = field(default_factory=HarmScoreConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)


# The configs of ``spp score-harm``, in the order of ``ScoreConfigs``' fields.
CONFIG_TYPES = [ScoreJobConfig, SourceConfig, HarmScoreConfig, ExecutorConfig]


# Fields that change where or how fast scoring runs, not the scores it writes.
SCORE_RUNTIME_FIELDS = CHUNKED_JOB_RUNTIME_FIELDS | EXECUTOR_FIELDS | {
    "score_batch_size",
    "harm_batch_size",
    "harm_device",
}


class ScoreJob(ClaimedJob):
    """One shard of a scoring job, plus the merge: the interface ``spp.data.datatrove_backend`` drives
    (``run_shard``, ``failure``, ``merge``, a context manager), as ``spp.data.job.AugmentJob`` offers it. Holds
    the output folder's claim (``spp.data.jobdir.JobClaim``) until ``close``."""

    stage = "score-harm"

    @classmethod
    def identity(cls, configs: ScoreConfigs) -> tuple[str, list[str]]:
        parts = (configs.job, configs.source, configs.harm)
        return recipe_hash(*parts, exclude=SCORE_RUNTIME_FIELDS), [configs.source.dataset]

    def __init__(self, configs: ScoreConfigs):
        self.configs = configs
        self.job = configs.job
        self.out = Path(configs.job.output_dir)
        self.claim = self.take_claim(configs)

    def run_shard(self) -> dict[str, Any]:
        """Score this shard's contiguous slice into ``<output_dir>/.spp-shards/``."""
        from datasets import Dataset

        job, source, harm = self.job, self.configs.source, self.configs.harm
        check_scorer(harm)
        scorer = build_scorer(harm)
        data = load_source(source)
        corpus_rows = len(data) if hasattr(data, "__len__") else None
        if job.num_shards > 1:
            if corpus_rows is None:
                raise SppConfigError(
                    "a sharded score-harm needs a map-style source (every shard slices it by row)",
                    field="streaming",
                    fix="pass --streaming false (the corpus is read to disk once)",
                )
            data = data.shard(num_shards=job.num_shards, index=job.shard_index, contiguous=True)
        scored = score_dataset(data, scorer, source.text_column, harm.harm_score_column, job.score_batch_size)
        if not hasattr(scored, "__len__"):
            scored = Dataset.from_generator(lambda: (yield from scored), features=scored.features)
        shard = _shard_dir(self.out, job.shard_index, job.num_shards)
        scored.save_to_disk(str(shard / "data"))
        rows = len(scored)
        record = {"rows": rows, "corpus_rows": corpus_rows if corpus_rows is not None else rows}
        (shard / "shard.json").write_text(json.dumps(record | {"shard_index": job.shard_index}))
        return {"rows": rows, "counts": {"scored": rows}, "scorer_seconds": scorer.seconds}

    def failure(self, result: dict[str, Any] | None = None) -> str | None:
        return None  # scoring has no per-document failures: a scorer error stops the task

    def merge(self) -> dict[str, Any]:
        """Concatenate the shards in corpus order into ``output_dir`` and write ``spp.json``."""
        job, source, harm = self.job, self.configs.source, self.configs.harm
        scored = merge_shards(job, source, harm, harm.harm_model)
        model_id = harm.harm_model if harm.harm_scorer == "transformers" else build_scorer(harm).model_id
        details = harm_details(scored[harm.harm_score_column], job.harm_threshold, harm, model_id)
        details["source"] = source.describe()
        SppMetadata(kind="dataset", lineage={"source": source.describe()}, details=details).save(self.out)
        if job.num_shards == 1:
            shutil.rmtree(self.out / SHARD_DIR, ignore_errors=True)
        self.claim.finish()
        return details


@dataclass
class ScoreResult(JobResult):
    """What a scoring run did (``spp.data.jobdir.JobResult``): ``shard`` holds this shard's rows and scorer seconds,
    ``merged`` the merged corpus's ``spp.json`` details."""


def _describe(summary: dict[str, Any]) -> str:
    if "harm_histogram" not in summary:  # a shard: its rows and time
        return f"scored {summary['rows']} rows in {summary['scorer_seconds']:.1f} s of scoring"
    return (
        f"{summary['rows']} rows; {summary['rows_at_or_above_threshold']} at or above {summary['harm_threshold']}; "
        f"histogram {summary['harm_histogram']}"
    )


def score_summary(result: ScoreResult) -> str:
    """What ``spp score-harm`` prints: this shard's rows, the merged corpus's histogram and where it is."""
    where = f"dataset: {result.output_dir} (open with datasets.load_from_disk)"
    return job_summary(result, "score-harm", _describe, where)


def run_score(configs: ScoreConfigs) -> ScoreResult:
    """Score this shard (unless ``merge``) and merge when it is the only one or ``merge`` is set; a datatrove
    ``executor`` runs (or submits) every shard and the merge."""
    job, out = configs.job, Path(configs.job.output_dir)
    check_scorer(configs.harm)  # before the folder is claimed or a model loaded
    if configs.executor.executor != "spp":
        from spp.data.datatrove_backend import run_with_datatrove

        failure = run_with_datatrove(configs, job_factory="spp.data.score_job:ScoreJob", job_name="spp-score-harm")
        return ScoreResult(out, failure=failure, executor=configs.executor.executor)
    with ScoreJob(configs) as runner:
        result = ScoreResult(out, shard_index=job.shard_index, num_shards=job.num_shards)
        if not job.merge:
            result.shard = runner.run_shard()
            if job.num_shards > 1:
                return result
        result.merged = runner.merge()
    return result
