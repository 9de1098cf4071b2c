"""``spp augment``'s run: one shard of the augmentation job and, when it is the last to do, the merge; or the whole
job on a datatrove executor (local, Slurm, Ray).

Promise: a run whose selected documents failed for more than ``max_failed_share`` merges nothing and says so in
``AugmentResult.failure`` (the CLI exits 3 on it; a rerun regenerates only the failed documents).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spp.contract import ReflectionContract
from spp.data.executor import ExecutorConfig
from spp.data.fit import ReflectionFitConfig
from spp.data.job import AugmentConfigs, AugmentJob, AugmentJobConfig, format_summary
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
class AugmentResult:
    """What an augmentation run did: this shard's summary (``None`` on a merge-only or a datatrove run), the merged
    summary (``None`` while other shards are still to come, or when the run failed), and ``failure``: why nothing was
    merged (more than ``max_failed_share`` of the selected documents failed), ``None`` when the run succeeded."""

    output_dir: Path
    shard: dict[str, Any] | None = None
    merged: dict[str, Any] | None = None
    failure: str | None = None


def augment_summary(result: AugmentResult) -> str:
    """A few lines of what the run made: the merged corpus's counts, else this shard's (empty on a datatrove run)."""
    summary = result.merged or result.shard
    return format_summary(summary) if summary else ""


def run_augment(configs: AugmentConfigs) -> AugmentResult:
    """Run this shard (unless ``merge``) and merge when it is the only one or ``merge`` is set; with a datatrove
    ``executor``, run (or submit) every shard and the merge there. The backends are checked by name first, before
    the job folder is claimed (a typo never records a job that the corrected rerun would have to overwrite)."""
    check_backends(configs)
    if configs.executor.executor != "spp":
        from spp.data.datatrove_backend import run_with_datatrove

        return AugmentResult(Path(configs.job.output_dir), failure=run_with_datatrove(configs))
    with AugmentJob(configs) as job:
        result = AugmentResult(job.output_dir)
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
