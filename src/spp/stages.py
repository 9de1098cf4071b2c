"""The stages ``spp experiment`` runs: for each, its config dataclasses and its run function.

A stage's run function takes the parsed configs (in ``config_types`` order, or one ``bundle`` dataclass holding
them) and returns a result object; a result whose ``failure`` is set means the stage failed (its CLI exits nonzero
on it). Targets are ``"module:name"`` strings imported only when used, so ``spp --help`` stays instant; a run
function may also be given as a callable (``register_stage_run``).

    from spp.recipes import configs_from_recipe
    from spp.stages import STAGE_RUNS

    stage = STAGE_RUNS["sft"]
    result = stage.run(configs_from_recipe(stage.types(), recipe))

``tokenizer`` and ``toy_data`` are library steps of the experiment with keys of their own (no ``config_types``):
their run functions take the step's recipe and outputs (``spp.experiment.runner``, ``spp.demo.toydata``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def load_target(target: str | Callable | type) -> Any:
    """The object a ``"module:name"`` target names (a callable or a class is returned as it is)."""
    if not isinstance(target, str):
        return target
    module_name, name = target.split(":")
    return getattr(importlib.import_module(module_name), name)


@dataclass(frozen=True)
class StageRun:
    """How a stage runs from its configs: ``run(*configs)``, or ``run(bundle(*configs))`` when ``bundle`` is set.

    ``command`` is the ``spp`` subcommand of the stage (its ``--help`` lists the fields); ``config_types`` are the
    stage's config dataclasses in parse order, as ``"module:Class"`` targets or one ``"module:LIST"`` target naming
    the list its CLI parses too (empty: a library step with keys of its own); ``summary_target`` turns a result into
    the lines the stage's CLI prints about it (``spp experiment`` prints them under the step)."""

    command: str
    run_target: str | Callable
    config_types: str | tuple[str, ...] = ()
    bundle: str | None = None
    summary_target: str | Callable | None = None

    def types(self) -> list[type]:
        if isinstance(self.config_types, str):
            return list(load_target(self.config_types))
        return [load_target(t) for t in self.config_types]

    def function(self) -> Callable:
        return load_target(self.run_target)

    def run(self, configs: tuple) -> Any:
        """Call the run function with ``configs`` (instances of ``types()``, in order); returns its result."""
        if self.bundle is not None:
            return self.function()(load_target(self.bundle)(*configs))
        return self.function()(*configs)

    def summary(self, result: Any) -> str:
        """What the stage's CLI prints about ``result`` (empty when the stage has no summary)."""
        return load_target(self.summary_target)(result) if self.summary_target is not None else ""


# Keyed by the experiment's stage names (``Step.stage``).
STAGE_RUNS: dict[str, StageRun] = {
    "score": StageRun(
        "score-harm",
        "spp.data.score_job:run_score",
        "spp.data.score_job:CONFIG_TYPES",
        bundle="spp.data.score_job:ScoreConfigs",
        summary_target="spp.data.score_job:score_summary",
    ),
    "augment": StageRun(
        "augment",
        "spp.data.augment_run:run_augment",
        "spp.data.augment_run:CONFIG_TYPES",
        bundle="spp.data.job:AugmentConfigs",
        summary_target="spp.data.augment_run:augment_summary",
    ),
    "import": StageRun(
        "import-reflections",
        "spp.data.import_job:run_import",
        "spp.data.import_job:CONFIG_TYPES",
        bundle="spp.data.import_job:ImportConfigs",
        summary_target="spp.data.import_job:import_result_summary",
    ),
    "bind": StageRun(
        "bind-data",
        "spp.bind.run:run_bind",
        "spp.bind.cli:CONFIG_TYPES",
        bundle="spp.bind.job:BindConfigs",
        summary_target="spp.bind.run:bind_summary",
    ),
    "pretrain": StageRun("pretrain", "spp.pretrain.run:run_pretrain", "spp.pretrain.run:CONFIG_TYPES"),
    "sft": StageRun(
        "sft", "spp.sft.train:run_sft", ("spp.sft.config:SPPSFTConfig",), summary_target="spp.sft.train:sft_summary"
    ),
    "attack": StageRun(
        "attack",
        "spp.attack.run:run_attack",
        ("spp.attack.config:AttackConfig",),
        summary_target="spp.attack.run:attack_summary",
    ),
    "eval": StageRun(
        "eval", "spp.eval.run:run_eval", ("spp.eval.config:EvalConfig",), summary_target="spp.eval.run:eval_summary"
    ),
    "compare": StageRun("compare", "spp.eval.run:run_compare", ("spp.eval.config:CompareConfig",)),
    "publish": StageRun(
        "publish",
        "spp.hub.run:run_publish",
        ("spp.hub.run:PublishArguments",),
        summary_target="spp.hub.run:publish_summary",
    ),
    "tokenizer": StageRun("tokenizer", "spp.experiment.runner:tokenizer_step"),
    "toy_data": StageRun("toy_data", "spp.demo.toydata:toy_data_step"),
}


def register_stage_run(name: str, stage: StageRun) -> None:
    """Add (or replace) the stage ``name`` that ``spp experiment`` can run."""
    STAGE_RUNS[name] = stage


def stage_run(name: str) -> StageRun:
    """The registered stage ``name``; ``KeyError`` naming the known ones."""
    try:
        return STAGE_RUNS[name]
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; known: {', '.join(sorted(STAGE_RUNS))}") from None
