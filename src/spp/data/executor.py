"""Which engine runs the chunked job: spp's own (default, no extra dependency) or datatrove's executors.

``ExecutorConfig`` is plain data (no datatrove import), so ``spp augment --help`` and recipes know it without the
``spp[datatrove]`` extra; ``spp.data.datatrove_backend`` builds the executors from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from spp.checks import AT_LEAST_ONE, MINUS_ONE_OR_MORE
from spp.errors import SppConfigError

EXECUTORS = ("spp", "local", "slurm", "ray")


@dataclass
class ExecutorConfig:
    """How the job is scaled out: spp's own job, or a datatrove executor (``pip install 'spp[datatrove]'``)."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "tasks": AT_LEAST_ONE,
        "workers": MINUS_ONE_OR_MORE,
        "cpus_per_task": AT_LEAST_ONE,
        "mem_per_cpu_gb": AT_LEAST_ONE,
    }

    executor: str = field(
        default="spp",
        metadata={
            "values": "spp.data.executor:EXECUTORS",
            "help": "'spp' (this process: one shard, --num_shards/--shard_index for arrays), or a datatrove "
            "executor running the shards as tasks plus a finalize task: 'local', 'slurm' or 'ray'."
        },
    )
    tasks: int = field(default=4, metadata={"help": "datatrove: number of tasks (shards)."})
    workers: int = field(default=-1, metadata={"help": "datatrove: tasks run at once (-1: all)."})
    logging_dir: str | None = field(
        default=None,
        metadata={
            "help": "datatrove: logs, stats and completion markers (default: <output_dir>/.spp-work/datatrove)."
        },
    )
    slurm_partition: str = field(default="", metadata={"help": "slurm: partition of the tasks."})
    slurm_time: str = field(default="24:00:00", metadata={"help": "slurm: time limit of one task."})
    cpus_per_task: int = field(default=4, metadata={"help": "slurm/ray: CPUs per task."})
    mem_per_cpu_gb: int = field(default=4, metadata={"help": "slurm/ray: memory per CPU, GB."})
    gpus_per_task: int = field(default=0, metadata={"help": "slurm/ray: GPUs per task (score-harm: 1)."})
    slurm_sbatch_args: str = field(
        default="", metadata={"help": "slurm: extra #SBATCH directives, 'key=value,key=value' (e.g. account=abc)."}
    )
    slurm_env_command: str | None = field(
        default=None, metadata={"help": "slurm: shell line that activates the environment in each task."}
    )

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise SppConfigError(
                f"unknown executor {self.executor!r}", field="executor", fix=f"use one of {EXECUTORS}"
            )
        if self.tasks < 1:
            raise SppConfigError("must be at least 1", field="tasks")
        if self.executor == "slurm" and not self.slurm_partition:
            raise SppConfigError("the slurm executor needs a partition", field="slurm_partition")

    def sbatch_args(self) -> dict[str, str]:
        pairs = [p for p in self.slurm_sbatch_args.split(",") if p.strip()]
        out = {}
        for pair in pairs:
            key, _, value = pair.partition("=")
            out[key.strip()] = value.strip()
        return out


# Every executor field: where and how the job runs, never which rows it writes. Each chunked job's resume
# fingerprint leaves them out (one set, so a new executor field cannot be forgotten by one of the jobs).
EXECUTOR_FIELDS = frozenset(f.name for f in fields(ExecutorConfig))
