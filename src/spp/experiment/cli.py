"""``spp experiment`` (the whole matched-arm study from one recipe) and ``spp demo`` (the same at tiny scale on CPU).

    spp demo                                                   # everything, under outputs/demo/, in minutes
    spp experiment --config recipes/experiments/tiny.yaml
    spp experiment --config recipes/experiments/paper_1.7b.yaml --dry_run true
    spp experiment --config recipes/experiments/paper_1.7b.yaml --until pretrain

A rerun skips every step whose outputs exist and whose recipe hash is unchanged, and resumes pretraining from its
last checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from spp.stages import get_stage

if TYPE_CHECKING:
    from spp.experiment.config import ExperimentConfig

__all__ = ["experiment_main", "parse", "run_experiment"]


def parse(argv: list[str] | None, stage: str = "experiment") -> ExperimentConfig:
    """The experiment config ``argv`` gives, as ``spp STAGE`` (``experiment`` or ``demo``) parses it."""
    # placeholders are the plan's to report: the dry run lists them, a run stops on them (spp.experiment.runner)
    (config,) = get_stage(stage).parse(argv, check=False)
    argv = list(argv or [])
    if not config.recipe_dir and "--config" in argv[:-1]:
        config.recipe_dir = str(repository_root(Path(argv[argv.index("--config") + 1])))
    return config


def repository_root(recipe: Path) -> Path:
    """The folder holding the ``recipes/`` folder ``recipe`` lies in (else the recipe's own folder)."""
    resolved = recipe.resolve()
    return next((p.parent for p in resolved.parents if p.name == "recipes"), resolved.parent)


def run_experiment(config: ExperimentConfig) -> dict[str, str]:
    """``spp.experiment.runner.run_experiment`` (imported when called: ``--help`` stays light)."""
    from spp.experiment.runner import run_experiment

    return run_experiment(config)


def experiment_main(argv: list[str] | None = None) -> int:
    run_experiment(parse(argv))
    return 0

