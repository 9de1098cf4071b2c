"""The exact commands of the steps a user launches: ``accelerate launch`` for training at the configured cluster
size, and one ``spp augment`` line per shard plus the merge for a sharded augment step."""

from __future__ import annotations

from spp.experiment.config import ExperimentConfig
from spp.experiment.plan import Step


def launch_command(step: Step, config: ExperimentConfig) -> list[str]:
    """``accelerate launch ... -m spp <stage> --config <resolved recipe>``; multi-node lines read ``$NODE_RANK``,
    ``$MASTER_ADDR`` from the environment of each node (run the same line on every node)."""
    command = ["accelerate", "launch", "--config_file", config.accelerate_config]
    command += ["--num_machines", str(config.num_machines), "--num_processes", str(config.num_gpus)]
    if config.num_machines > 1:
        command += [
            "--machine_rank",
            "$NODE_RANK",
            "--main_process_ip",
            "$MASTER_ADDR",
            "--main_process_port",
            "29500",
        ]
    return [*command, "-m", "spp", step.stage, "--config", str(step.recipe_path(config))]


def step_commands(step: Step, config: ExperimentConfig) -> list[str]:
    """The command lines that run ``step`` on the cluster (empty for a step that runs where ``spp experiment`` runs).

    A sharded augment step gives one line per shard (``$SHARD_INDEX`` = 0 .. N-1, e.g. ``$SLURM_ARRAY_TASK_ID`` of
    an array job; the shards may run at once, each resumable) and the merge line, to run once every shard is done.
    """
    if step.training:
        return [" ".join(launch_command(step, config))]
    if step.sharded:
        recipe, shards = step.recipe_path(config), int(step.recipe["num_shards"])
        return [
            f"spp augment --config {recipe} --shard_index $SHARD_INDEX   # for SHARD_INDEX in 0..{shards - 1}",
            f"spp augment --config {recipe} --merge true   # once all {shards} shards are done",
        ]
    return []
