"""The exact ``accelerate launch`` command of a training step for the configured cluster size."""

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
