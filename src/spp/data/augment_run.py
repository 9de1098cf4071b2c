"""``spp augment``'s run: one shard of the augmentation job and, when it is the last to do, the merge; or the whole
job on a datatrove executor (local, Slurm, Ray).

Promise: a run whose selected documents failed for more than ``max_failed_share`` merges nothing and says so in
``AugmentResult.failure`` (the CLI exits 3 on it; a rerun regenerates only the failed documents).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spp.contract import ReflectionContract
from spp.data.executor import ExecutorConfig
from spp.data.fit import ReflectionFitConfig
from spp.data.job import AugmentConfigs, AugmentJob, AugmentJobConfig, format_summary
from spp.data.jobdir import JobResult, job_summary
from spp.data.scoring import HarmScoreConfig
from spp.data.selection import SelectionConfig
from spp.data.sources import SourceConfig
from spp.generate.base import GeneratorConfig
from spp.generate.validate import ValidationConfig
from spp.persona.config import PersonaConfig

# The configs of ``spp augment``, in the order of ``AugmentConfigs``' fields.
CONFIG_TYPES = [
    AugmentJobConfig,
    SourceConfig,
    SelectionConfig,
    HarmScoreConfig,
    PersonaConfig,
    GeneratorConfig,
    ValidationConfig,
    ReflectionContract,
    ReflectionFitConfig,
    ExecutorConfig,
]


def check_backends(configs: AugmentConfigs) -> None:
    """The generator backend and harm scorer are known (looked up by name; nothing is loaded)."""
    from spp.data.scoring import HARM_SCORERS
    from spp.errors import SppConfigError
    from spp.generate.base import generator_class

    generator_class(configs.generator.backend)
    if configs.harm.harm_scorer not in (*HARM_SCORERS, "none"):
        raise SppConfigError(
            f"unknown harm scorer {configs.harm.harm_scorer!r}",
            field="harm_scorer",
            fix=f"choose one of {sorted(HARM_SCORERS)} or 'none'",
        )


@dataclass
class AugmentResult(JobResult):
    """What an augmentation run did (``spp.data.jobdir.JobResult``); ``failure``: why nothing was merged (more than
    ``max_failed_share`` of the selected documents failed), ``None`` when the run succeeded."""


def augment_summary(result: AugmentResult) -> str:
    """What ``spp augment`` prints: this shard's counts, the merged corpus's and where it is (``job_summary``)."""
    out = result.output_dir
    where = f"dataset: {out} (open with datasets.load_from_disk); summary: {out / 'summary.json'}"
    return job_summary(result, "augment", format_summary, where)


def run_augment(configs: AugmentConfigs) -> AugmentResult:
    """Run this shard (unless ``merge``) and merge when it is the only one or ``merge`` is set; with a datatrove
    ``executor``, run (or submit) every shard and the merge there. The backends are checked by name first, before
    the job folder is claimed (a typo never records a job that the corrected rerun would have to overwrite)."""
    check_backends(configs)
    if configs.executor.executor != "spp":
        from spp.data.datatrove_backend import run_with_datatrove

        failure = run_with_datatrove(configs)
        return AugmentResult(Path(configs.job.output_dir), failure=failure, executor=configs.executor.executor)
    with AugmentJob(configs) as job:
        result = AugmentResult(job.output_dir, shard_index=configs.job.shard_index, num_shards=configs.job.num_shards)
        if not configs.job.merge:
            result.shard = job.run_shard()
            if failure := job.failure(result.shard):
                result.failure = failure
                return result
            if configs.job.num_shards > 1:
                return result
        elif failure := job.failure():
            result.failure = failure
            return result
        result.merged = job.merge()
    return result
