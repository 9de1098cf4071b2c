"""The one registry of spp's stages: what ``spp STAGE`` runs, and what ``spp experiment`` runs for a step.

Each ``Stage`` names its config dataclasses, its run function (which takes the parsed configs and returns a result),
the summary its CLI prints about that result, and the module whose docstring is its ``--help`` text. Its ``main`` is
generated from those (``stage_main``: parse ``--config`` plus overrides, run, print the summary, exit 3 when the
result's ``failure`` is set), unless the stage has a CLI of its own (``main_target``: ``experiment``, ``demo``).
``spp experiment`` builds the same configs from a step's recipe, with no argv, and calls the same run function.
Targets are ``"module:name"`` strings (``spp.targets``) imported only when used, so ``spp --help`` stays instant.

    from spp.recipes import configs_from_recipe
    from spp.stages import get_stage

    stage = get_stage("sft")
    result = stage.run(configs_from_recipe(stage.types(), recipe))
    print(stage.summary(result))

Stages are keyed by command. A step of ``spp experiment`` names its stage by ``Stage.step`` where that differs
(``score`` runs ``score-harm``, ``import`` runs ``import-reflections``, ``bind`` runs ``bind-data``; ``step_stage``);
``tokenizer`` and ``toy_data`` are library steps of the experiment with keys of their own and no command.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spp.targets import load_target

__all__ = [
    "STAGES",
    "Stage",
    "commands",
    "get_stage",
    "load_target",
    "register_stage",
    "rerun_command",
    "stage_main",
    "step_stage",
]


@dataclass(frozen=True)
class Stage:
    """One stage. ``name`` is its ``spp`` command; ``help`` its line in ``spp --help``; ``doc`` the module whose
    docstring is its ``--help`` description (commands one can paste, one per line).

    ``config_types`` are its config dataclasses in parse order, as ``"module:Class"`` targets or one ``"module:LIST"``
    target naming the list; ``run_target`` takes them (``run(*configs)``, or ``run(bundle(*configs))`` when
    ``bundle`` is set) and returns a result, whose ``failure`` (when set) makes the CLI exit 3; ``summary_target``
    turns a result into the lines the CLI prints (``spp experiment`` prints them under the step). ``positional``
    names the fields that values before the first option fill (``spp download ORG/NAME``). ``main_target`` is a CLI
    of its own, ``main(argv) -> exit code``, for a stage that does not fit that pattern. ``step`` is the name
    ``spp experiment`` gives the stage's steps when it is not the command; ``command=False``: a library step of
    ``spp experiment`` (no command, its run function takes the step's recipe and outputs)."""

    name: str
    help: str
    doc: str | None = None
    config_types: str | tuple[str, ...] = ()
    run_target: str | Callable | None = None
    bundle: str | None = None
    summary_target: str | Callable | None = None
    positional: tuple[str, ...] = ()
    main_target: str | Callable | None = None
    step: str | None = None
    command: bool = True

    def types(self) -> list[type]:
        """The config dataclasses, in the order the run function takes them."""
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
        """What the stage's CLI prints about ``result`` (empty when there is nothing to say)."""
        return load_target(self.summary_target)(result) if self.summary_target is not None else ""

    def description(self) -> str:
        """The ``--help`` description: the docstring of ``doc`` (else the one-line ``help``)."""
        doc = load_target(f"{self.doc}:__doc__") if self.doc else None
        return (doc or self.help).strip()

    def parse(self, argv: list[str] | None, check: bool = True, prog: str | None = None) -> tuple:
        """The configs ``argv`` (``--config`` plus overrides) gives (``spp.recipes.parse_config``); ``--help``
        prints the stage's help and exits 0."""
        from spp.recipes import parse_config

        prog = prog or f"spp {self.name}"
        return parse_config(self.types(), argv, prog, self.description(), check=check, positional=self.positional)

    def help_text(self) -> str:
        """``spp NAME --help``'s text (``spp.arguments.cached_help``)."""
        from spp.arguments import cached_help
        from spp.recipes import spp_parser

        def render() -> str:
            return spp_parser(self.types(), self.positional, prog=f"spp {self.name}",
                              description=self.description()).format_help()  # fmt: skip

        return cached_help(self.name, render)

    def main(self, argv: list[str] | None = None) -> int:
        """Run the stage from the command line; the exit code (see ``stage_main``). ``--help`` (with no ``--config``,
        whose values would show as defaults) prints ``help_text()``."""
        args = list(sys.argv[1:] if argv is None else argv)  # a generated main called with None reads sys.argv
        if self.config_types and ("-h" in args or "--help" in args) and "--config" not in args:
            print(self.help_text(), end="")
            return 0
        if self.main_target is not None:
            return int(load_target(self.main_target)(argv) or 0)
        return _plain_main(self, argv)


def _plain_main(stage: Stage, argv: list[str] | None) -> int:
    configs = stage.parse(argv)
    result = stage.run(configs)
    if summary := stage.summary(result):
        print(summary)
    if failure := getattr(result, "failure", None):
        print(f"spp {stage.name}: {failure}\nrerun: {rerun_command(stage.name, argv)}", file=sys.stderr)
        return 3
    return 0


def stage_main(name: str) -> Callable[[list[str] | None], int]:
    """The ``main(argv)`` of stage ``name``: parse its configs from ``argv``, run it, print its summary; exit 0, or 3
    when the result's ``failure`` is set (the message and the command that reruns it go to stderr). Bad input raises
    ``SppConfigError`` (``spp.cli.main`` turns it into exit 2)."""

    def main(argv: list[str] | None = None) -> int:
        return get_stage(name).main(argv)

    main.__name__ = main.__qualname__ = f"{name.replace('-', '_')}_main"
    main.__doc__ = f"``spp {name}`` (``spp.stages.stage_main``)."
    return main


def rerun_command(stage: str, argv: list[str] | None) -> str:
    """The command line that reruns ``spp STAGE`` with the same arguments (for the message of a run to resume)."""
    import shlex

    return shlex.join(["spp", stage, *(sys.argv[2:] if argv is None else argv)])


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage(
            "render-prompt",
            "print the generator prompt and prompt hash for one document",
            doc="spp.persona.cli",
            config_types=(
                "spp.persona.config:PersonaConfig",
                "spp.contract:ReflectionContract",
                "spp.persona.config:RenderPromptConfig",
            ),
            run_target="spp.persona.preview:render_prompt",
            summary_target="spp.persona.preview:render_summary",
        ),
        Stage(
            "score-harm",
            "add a harm_score column to a dataset",
            doc="spp.data.score_cli",
            config_types="spp.data.score_job:CONFIG_TYPES",
            run_target="spp.data.score_job:run_score",
            bundle="spp.data.score_job:ScoreConfigs",
            summary_target="spp.data.score_job:score_summary",
            step="score",
        ),
        Stage(
            "augment",
            "select documents, generate reflections, write the augmented corpus",
            doc="spp.data.augment_cli",
            config_types="spp.data.augment_run:CONFIG_TYPES",
            run_target="spp.data.augment_run:run_augment",
            bundle="spp.data.job:AugmentConfigs",
            summary_target="spp.data.augment_run:augment_summary",
        ),
        Stage(
            "import-reflections",
            "join released reflections (a sidecar) to their corpus: an spp corpus for every arm",
            doc="spp.data.import_cli",
            config_types="spp.data.import_job:CONFIG_TYPES",
            run_target="spp.data.import_job:run_import",
            bundle="spp.data.import_job:ImportConfigs",
            summary_target="spp.data.import_job:import_result_summary",
            step="import",
        ),
        Stage(
            "inspect",
            "a dataset's columns, one row, and what spp's mappings read from it",
            doc="spp.data.inspect_cli",
            config_types=("spp.data.inspect_cli:InspectArguments",),
            run_target="spp.data.inspect_cli:report",
            summary_target=str,
            positional=("dataset",),
        ),
        Stage(
            "bind-data",
            "persona-binding SFT data: paired cited/uncited persona answers",
            doc="spp.bind.cli",
            config_types="spp.bind.job:CONFIG_TYPES",
            run_target="spp.bind.run:run_bind",
            bundle="spp.bind.job:BindConfigs",
            summary_target="spp.bind.run:bind_summary",
            step="bind",
        ),
        Stage(
            "pretrain",
            "pretrain one arm from the augmented corpus (SPPTrainer)",
            doc="spp.pretrain.cli",
            config_types="spp.pretrain.config:CONFIG_TYPES",
            run_target="spp.pretrain.run:run_pretrain",
            summary_target="spp.pretrain.run:pretrain_summary",
        ),
        Stage(
            "sft",
            "identical, persona-bound SFT with TRL",
            doc="spp.sft.cli",
            config_types=("spp.sft.config:SPPSFTConfig",),
            run_target="spp.sft.train:run_sft",
            summary_target="spp.sft.train:sft_summary",
        ),
        Stage(
            "attack",
            "optimise HarmBench test cases (PEZ, GCG) against the model under test",
            doc="spp.attack.cli",
            config_types=("spp.attack.config:AttackConfig",),
            run_target="spp.attack.run:run_attack",
            summary_target="spp.attack.run:attack_summary",
        ),
        Stage(
            "eval",
            "run the safety suite on a model",
            doc="spp.eval.cli",
            config_types=("spp.eval.config:EvalConfig",),
            run_target="spp.eval.run:run_eval",
            summary_target="spp.eval.run:eval_summary",
        ),
        Stage(
            "compare",
            "compare eval results of several models (table + PNG)",
            doc="spp.eval.cli",
            config_types=("spp.eval.config:CompareConfig",),
            run_target="spp.eval.run:run_compare",
            summary_target="spp.eval.run:compare_summary",
            positional=("results",),
        ),
        Stage(
            "judge-audit",
            "measure a judge against labelled responses (F1, kappa)",
            doc="spp.eval.cli",
            config_types=("spp.eval.config:JudgeAuditConfig",),
            run_target="spp.eval.run:run_judge_audit",
            summary_target="spp.eval.run:judge_audit_summary",
        ),
        Stage(
            "curves",
            "measures on every step-* checkpoint branch, against tokens seen",
            doc="spp.eval.cli",
            config_types=("spp.eval.curves:CurvesConfig",),
            run_target="spp.eval.curves:write_curves",
            summary_target="spp.eval.curves:curves_summary",
            positional=("models",),
        ),
        Stage(
            "publish",
            "publish a model or dataset (with cards and spp.json) to the Hub or a folder",
            doc="spp.hub.cli",
            config_types=("spp.hub.run:PublishArguments",),
            run_target="spp.hub.run:run_publish",
            summary_target="spp.hub.run:publish_summary",
            positional=("kind", "path"),
        ),
        Stage(
            "download",
            "download a released model, dataset or checkpoint branch",
            doc="spp.hub.cli",
            config_types=("spp.hub.run:DownloadArguments",),
            run_target="spp.hub.run:run_download",
            summary_target="spp.hub.run:download_summary",
            positional=("repo_id",),
        ),
        Stage(
            "checkpoints",
            "list the step-* checkpoint branches of a model repo",
            doc="spp.hub.cli",
            config_types=("spp.hub.run:CheckpointsArguments",),
            run_target="spp.hub.run:run_checkpoints",
            summary_target="spp.hub.run:checkpoints_summary",
            positional=("repo_id",),
        ),
        Stage(
            "experiment",
            "run the whole matched-arm study from one recipe",
            doc="spp.experiment.cli",
            config_types=("spp.experiment.config:ExperimentConfig",),
            main_target="spp.experiment.cli:experiment_main",
        ),
        Stage(
            "demo",
            "the whole pipeline at tiny scale on CPU, in minutes",
            doc="spp.demo.cli",
            config_types=("spp.experiment.config:ExperimentConfig",),
            main_target="spp.demo.cli:main",
        ),
        Stage(
            "env",
            "versions, devices, accelerate config and Hub reachability (paste it into a bug report)",
            doc="spp.env",
            config_types=("spp.env:EnvArguments",),
            run_target="spp.env:collect",
            summary_target="spp.env:env_summary",
        ),
        Stage("tokenizer", "a byte-level BPE tokenizer of the source documents", command=False,
              run_target="spp.experiment.runner:tokenizer_step"),  # fmt: skip
        Stage("toy_data", "the demo's toy SFT and benchmark data", command=False,
              run_target="spp.demo.toydata:toy_data_step"),  # fmt: skip
    )
}


def register_stage(stage: Stage) -> None:
    """Add (or replace) a stage: a command of ``spp`` (unless ``command=False``) and a stage ``spp experiment`` can
    run."""
    STAGES[stage.name] = stage


def commands() -> dict[str, Stage]:
    """The stages that are ``spp`` commands, in registry order."""
    return {name: stage for name, stage in STAGES.items() if stage.command}


def get_stage(name: str) -> Stage:
    """The stage whose command (or library step) is ``name``; ``KeyError`` naming the known ones."""
    try:
        return STAGES[name]
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; known: {', '.join(STAGES)}") from None


def step_stage(name: str) -> Stage:
    """The stage a step of ``spp experiment`` with ``Step.stage == name`` runs (``score`` -> ``score-harm``)."""
    for stage in STAGES.values():
        if (stage.step or stage.name) == name and stage.run_target is not None:
            return stage
    known = [stage.step or stage.name for stage in STAGES.values() if stage.run_target is not None]
    raise KeyError(f"unknown experiment stage {name!r}; known: {', '.join(known)}")
