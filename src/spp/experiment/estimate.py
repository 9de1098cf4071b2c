"""Token counts and GPU-hour estimates of a plan, from a recorded throughput figure (never a guessed one).

``benchmarks/throughput.json`` holds named figures (tokens/s per GPU, hardware, software, where the number came
from); ``--dry_run`` names the figure it used and its source next to every estimate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spp.experiment.config import ExperimentConfig, stage_recipe
from spp.experiment.plan import Step


@dataclass
class Throughput:
    name: str
    tokens_per_s_per_gpu: float
    figure: dict[str, Any]


def load_throughput(config: ExperimentConfig) -> Throughput | None:
    """The figure ``throughput_figure`` of ``throughput_file`` (``None`` when either is missing)."""
    path = Path(config.throughput_file)
    if not path.is_file() and config.recipe_dir:
        path = Path(config.recipe_dir) / config.throughput_file
    if not config.throughput_figure or not path.is_file():
        return None
    figures = json.loads(path.read_text(encoding="utf-8")).get("pretrain", {})
    figure = figures.get(config.throughput_figure)
    if figure is None:
        return None
    return Throughput(config.throughput_figure, float(figure["tokens_per_s_per_gpu"]), figure)


def pretrain_tokens(step: Step, config: ExperimentConfig) -> int | None:
    """Training positions of a pretraining step: max_steps x global batch (windows) x seq_len (the pretrain recipe's,
    else the augment recipe's: pretraining reads it from the corpus augment writes; else 2048)."""
    recipe = step.recipe
    seq_len = recipe.get("seq_len") or stage_recipe(config, "augment").get("seq_len")
    steps, seq_len = int(recipe.get("max_steps", 0)), int(seq_len or 2048)
    windows = recipe.get("global_batch_windows") or (
        int(recipe.get("per_device_train_batch_size", 8))
        * int(recipe.get("gradient_accumulation_steps", 1))
        * config.num_gpus
    )
    return steps * int(windows) * seq_len if steps > 0 else None


def gpu_hours(tokens: int, throughput: Throughput) -> float:
    return tokens / throughput.tokens_per_s_per_gpu / 3600


@dataclass
class AttackWork:
    """What an attack step optimises: behaviours (``None`` when the file is not there yet) x test cases x steps."""

    method: str
    behaviors: int | None
    test_cases_per_behavior: int
    steps: int

    @property
    def test_case_steps(self) -> int | None:
        return None if self.behaviors is None else self.behaviors * self.test_cases_per_behavior * self.steps


def attack_work(step: Step) -> AttackWork:
    from spp.attack.behaviors import load_behaviors
    from spp.attack.registry import get_method
    from spp.errors import SppConfigError

    recipe = step.recipe
    method = get_method(recipe.get("method", "pez"))
    hp = {**method.defaults, **{k: v for k, v in recipe.items() if k in method.defaults and v is not None}}
    try:
        found = load_behaviors(recipe.get("behaviors", ""), recipe.get("targets", ""),
                               recipe.get("functional_categories"), recipe.get("behavior_ids"),
                               int(recipe.get("limit", 0)))  # fmt: skip
        count: int | None = len(found)
    except SppConfigError:  # not downloaded yet, or written by an earlier step
        count = None
    return AttackWork(method.name, count, int(hp["num_test_cases_per_behavior"]), int(hp["num_steps"]))


def load_attack_throughput(config: ExperimentConfig) -> dict[str, Any] | None:
    """The figure ``attack_throughput_figure`` of ``throughput_file``'s ``attack`` section (``None``: not measured)."""
    path = Path(config.throughput_file)
    if not path.is_file() and config.recipe_dir:
        path = Path(config.recipe_dir) / config.throughput_file
    if not config.attack_throughput_figure or not path.is_file():
        return None
    figure = json.loads(path.read_text(encoding="utf-8")).get("attack", {}).get(config.attack_throughput_figure)
    return None if figure is None else {"name": config.attack_throughput_figure, **figure}


def attack_hours(work: AttackWork, figure: dict[str, Any]) -> float | None:
    """Device-hours of ``work`` at the figure's measured optimisation steps per second (test case x step / s)."""
    if work.test_case_steps is None or figure.get("method") != work.method:
        return None
    return work.test_case_steps / float(figure["test_case_steps_per_s"]) / 3600
