"""The whole matched-arm study from one recipe: ``spp experiment`` and its tiny embedded twin ``spp demo``.

from spp.experiment import build_plan, load_experiment, run_experiment
"""

from spp.experiment.config import ExperimentConfig, load_experiment
from spp.experiment.plan import Step, build_plan
from spp.experiment.runner import run_experiment

__all__ = ["ExperimentConfig", "Step", "build_plan", "load_experiment", "run_experiment"]
