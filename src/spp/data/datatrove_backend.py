"""spp's chunked jobs as datatrove pipeline steps, run by ``LocalPipelineExecutor``, ``SlurmPipelineExecutor`` or
``RayPipelineExecutor`` (``pip install 'spp[datatrove]'``: datatrove's core only; its ``inference`` extra pins vLLM).

Two stages, the second depending on the first:
- ``tasks`` tasks of ``SppShardStep``: task ``rank`` of ``world_size`` is shard ``rank`` of ``world_size`` of spp's
  own job (``spp.data.job``): it writes its chunks (chunk ``c`` belongs to task ``c % world_size``) with spp's schema,
  its corpus identity checks, its lock and its server pool (several URLs, Retry-After, retry budget). A task killed
  (``kill -9``, preemption) loses only the chunks in flight; its rerun continues from its committed chunks.
- one ``SppFinalizeStep`` task: checks that every task of the first stage completed (datatrove's completion markers
  and spp's shard manifests), then runs spp's merge (``spp.data.merge``): every chunk verified, concatenated in corpus
  order, ``spp.json``, card and ``summary.json`` written exactly as the local job writes them.

Why rows are not written by datatrove's ``ParquetWriter``: it infers the schema from the first document (rows of
another shape are lost while the task reports success), writes in task order rather than corpus order and cannot be
resumed inside a task. Writing spp's chunks (explicit schema, chunk index = position in the corpus, atomic commits)
avoids all three; corpus order needs no sort. Datatrove's completion markers are per task count, so the logging
folder is per task count (``augment-<tasks>``): a rerun with another task count starts fresh markers while spp's
chunks, which do not depend on the task count, are reused.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.targets import load_target

logger = logging.getLogger("spp.data")


try:
    from datatrove.pipeline.base import PipelineStep
except ImportError:  # the steps need datatrove; build_executors says how to install it
    PipelineStep = object  # type: ignore[assignment,misc]


def _require_datatrove(executor: str = "") -> None:
    """The executor's packages are installed (``SppConfigError`` naming the extra that brings them, before any task
    or claim): datatrove, and Ray for ``--executor ray``."""
    if PipelineStep is object:
        extra = "ray" if executor == "ray" else "datatrove"
        fix = f"pip install 'spp[{extra}]'"
        raise SppConfigError("the datatrove executors need datatrove", field="executor", fix=fix)
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise SppConfigError("--executor ray needs Ray", field="executor", fix="pip install 'spp[ray]'")


def _shard_configs(configs, rank: int, world_size: int, merge: bool = False):
    changes = {"num_shards": world_size, "shard_index": rank, "merge": merge}
    if hasattr(configs.job, "overwrite"):
        changes["overwrite"] = False
    return dataclasses.replace(configs, job=dataclasses.replace(configs.job, **changes))


class TaskFailed(RuntimeError):
    """A task whose job finished with too many failed documents (exit 3 of spp's job); rerun it."""


class SppShardStep(PipelineStep):
    """Task ``rank`` of ``world_size`` runs shard ``rank`` of ``world_size`` of a chunked spp job.

    ``job_factory`` (``"module:Class"``) is the job: ``spp.data.job:AugmentJob`` or spp's scoring job; it takes the
    configs and offers ``run_shard``, ``failure`` and ``merge`` (see ``spp.data.job.AugmentJob``).
    """

    name = "spp shard"
    type = "spp"

    def __init__(self, configs, job_factory: str = "spp.data.job:AugmentJob"):
        super().__init__()
        self.configs = configs
        self.job_factory = job_factory

    def run(self, data: Any = None, rank: int = 0, world_size: int = 1):
        job_class = load_target(self.job_factory)
        with job_class(_shard_configs(self.configs, rank, world_size)) as job:
            result = job.run_shard()
            for status, count in result["counts"].items():
                self.stat_update(status, value=count)
            if failure := job.failure(result):
                raise TaskFailed(failure)
        if data:
            yield from data


class SppFinalizeStep(PipelineStep):
    """Checks every task's completion, then merges (``spp.data.merge``) exactly as the local job does."""

    name = "spp finalize"
    type = "spp"

    def __init__(self, configs, tasks: int, shard_logging_dir: str, job_factory: str = "spp.data.job:AugmentJob"):
        super().__init__()
        self.configs = configs
        self.tasks = tasks
        self.shard_logging_dir = shard_logging_dir
        self.job_factory = job_factory

    def run(self, data: Any = None, rank: int = 0, world_size: int = 1):
        from datatrove.io import get_datafolder

        folder = get_datafolder(self.shard_logging_dir)
        done = set(folder.list_files("completions")) if folder.isdir("completions") else set()
        missing = [r for r in range(self.tasks) if f"completions/{r:05d}" not in done]
        if missing:
            raise SppConfigError(
                f"{len(missing)} of {self.tasks} tasks have not completed (first: task {missing[0]})",
                source=self.shard_logging_dir,
                fix="rerun the same command: completed tasks are skipped, the others continue from their chunks",
            )
        job_class = load_target(self.job_factory)
        with job_class(_shard_configs(self.configs, 0, self.tasks, merge=True)) as job:
            if failure := job.failure():
                raise TaskFailed(failure)
            result = job.merge()
        self.stat_update("rows", value=result["rows"])
        if data:
            yield from data


def logging_dirs(configs) -> tuple[str, str]:
    """Where datatrove keeps the two stages' logs, stats and completion markers."""
    ex = configs.executor
    root = Path(ex.logging_dir) if ex.logging_dir else Path(configs.job.output_dir) / ".spp-work" / "datatrove"
    return str(root / f"shards-{ex.tasks}"), str(root / f"finalize-{ex.tasks}")


def build_executors(configs, job_factory: str = "spp.data.job:AugmentJob", job_name: str = "spp-augment"):
    """``(shards, finalize)`` executors of the configured kind; ``finalize.run()`` runs (or submits) both."""
    _require_datatrove(configs.executor.executor)
    ex = configs.executor
    shard_dir, finalize_dir = logging_dirs(configs)
    shards = [SppShardStep(configs, job_factory)]
    finalize = [SppFinalizeStep(configs, ex.tasks, shard_dir, job_factory)]
    if ex.executor == "local":
        from spp.data.local_executor import SppLocalExecutor  # datatrove's, with tasks that cannot hang it

        first = SppLocalExecutor(shards, tasks=ex.tasks, workers=ex.workers, logging_dir=shard_dir)
        second = SppLocalExecutor(finalize, tasks=1, logging_dir=finalize_dir, depends=first)
    elif ex.executor == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        common = dict(
            partition=ex.slurm_partition,
            time=ex.slurm_time,
            env_command=ex.slurm_env_command,
            sbatch_args=ex.sbatch_args() or None,
            requeue=True,
        )
        first = SlurmPipelineExecutor(
            shards,
            tasks=ex.tasks,
            workers=ex.workers,
            cpus_per_task=ex.cpus_per_task,
            mem_per_cpu_gb=ex.mem_per_cpu_gb,
            gpus_per_task=ex.gpus_per_task,
            job_name=job_name,
            logging_dir=shard_dir,
            **common,
        )
        second = SlurmPipelineExecutor(
            finalize,
            tasks=1,
            cpus_per_task=2,
            mem_per_cpu_gb=ex.mem_per_cpu_gb,
            job_name=f"{job_name}-finalize",
            logging_dir=finalize_dir,
            depends=first,
            **common,
        )
    elif ex.executor == "ray":
        from datatrove.executor import RayPipelineExecutor

        first = RayPipelineExecutor(
            shards,
            tasks=ex.tasks,
            workers=ex.workers,
            logging_dir=shard_dir,
            cpus_per_task=ex.cpus_per_task,
            mem_per_cpu_gb=ex.mem_per_cpu_gb,
            gpus_per_task=ex.gpus_per_task,
        )
        second = RayPipelineExecutor(finalize, tasks=1, logging_dir=finalize_dir, depends=first)
    else:
        raise SppConfigError(f"{ex.executor!r} is not a datatrove executor", field="executor")
    return first, second


def run_with_datatrove(
    configs, job_factory: str = "spp.data.job:AugmentJob", job_name: str = "spp-augment"
) -> str | None:
    """Run (local, ray) or submit (slurm) the job after claiming its output folder (``spp.ownership``, with
    ``--overwrite`` applied here, once); returns why it failed (too many failed documents, a task that died), or
    ``None``."""
    _require_datatrove(configs.executor.executor)
    job_class = load_target(job_factory)
    job_class.take_claim(configs, shard_index=0, num_shards=1, merge=False).release()  # refused before any task
    first, second = build_executors(configs, job_factory, job_name)
    try:
        second.run()
    except TaskFailed as err:
        return str(err)
    except Exception as err:
        if type(err).__name__ != "TaskDied":
            raise
        return str(err)
    return None
