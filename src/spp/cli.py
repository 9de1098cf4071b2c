"""The ``spp`` command: one registry of stages, each a module with ``main(argv)``.

Every stage parses ``--config recipe.yaml`` plus command-line overrides named after its dataclass fields
(trl's ``TrlParser``). Stage modules are imported only when their stage runs, so ``spp --help`` is instant.

    spp --help
    spp augment --config recipes/augment/demo.yaml --max_documents 50
"""

from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError

logger = logging.getLogger("spp")


@dataclass(frozen=True)
class Stage:
    """A CLI stage: ``target`` is ``"module:function"``, a ``function(argv: list[str]) -> int | None``."""

    target: str
    help: str


STAGES: dict[str, Stage] = {
    "render-prompt": Stage("spp.persona.cli:main", "print the generator prompt and prompt hash for one document"),
    "augment": Stage(
        "spp.data.augment_cli:main", "select documents, generate reflections, write the augmented corpus"
    ),
    "score-harm": Stage("spp.data.score_cli:main", "add a harm_score column to a dataset"),
    "bind-data": Stage("spp.bind.cli:main", "persona-binding SFT data: paired cited/uncited persona answers"),
    "publish": Stage(
        "spp.hub.cli:publish_main", "publish a model or dataset (with cards and spp.json) to the Hub or a folder"
    ),
    "download": Stage("spp.hub.cli:download_main", "download a released model, dataset or checkpoint branch"),
    "checkpoints": Stage("spp.hub.cli:checkpoints_main", "list the step-* checkpoint branches of a model repo"),
    "pretrain": Stage("spp.pretrain.cli:main", "pretrain one arm from the augmented corpus (SPPTrainer)"),
    "sft": Stage("spp.sft.cli:main", "identical, persona-bound SFT with TRL"),
    "attack": Stage("spp.attack.cli:main", "optimise HarmBench test cases (PEZ, GCG) against the model under test"),
    "eval": Stage("spp.eval.cli:eval_main", "run the safety suite on a model"),
    "compare": Stage("spp.eval.cli:compare_main", "compare eval results of several models (table + PNG)"),
    "judge-audit": Stage("spp.eval.cli:judge_audit_main", "measure a judge against labelled responses (F1, kappa)"),
    "experiment": Stage("spp.experiment.cli:experiment_main", "run the whole matched-arm study from one recipe"),
    "demo": Stage("spp.experiment.cli:demo_main", "the whole pipeline at tiny scale on CPU, in minutes"),
    "curves": Stage("spp.eval.curves:curves_main", "measures on every step-* checkpoint branch, against tokens seen"),
}


def register_stage(name: str, target: str, help: str) -> None:
    """Add a stage to ``spp``: ``target`` is ``"module:function"``."""
    STAGES[name] = Stage(target, help)


def _usage() -> str:
    width = max(len(name) for name in STAGES)
    lines = [
        "usage: spp <stage> [--config RECIPE.yaml] [--field value ...]",
        "",
        "Synthetic Persona Pretraining on the Hugging Face stack.",
        "",
        "stages:",
        *(f"  {name.ljust(width)}  {stage.help}" for name, stage in sorted(STAGES.items())),
        "",
        "`spp <stage> --help` lists every field of that stage with its help.",
    ]
    return "\n".join(lines)


def parse_config(
    dataclass_types: list[type], argv: list[str] | None, prog: str, description: str = ""
) -> tuple[Any, ...]:
    """Parse ``--config`` YAML plus overrides into ``dataclass_types``; bad input raises ``SppConfigError``."""
    from trl import TrlParser

    argv = list(sys.argv[1:] if argv is None else argv)
    config_path = argv[argv.index("--config") + 1] if "--config" in argv[:-1] else None
    if config_path is not None and not Path(config_path).is_file():
        raise SppConfigError("recipe file not found", source=config_path, fix="pass an existing YAML file to --config")
    parser = TrlParser(dataclass_types, prog=prog, description=description)
    try:
        return tuple(parser.parse_args_and_config(argv))
    except (ValueError, TypeError) as err:
        raise SppConfigError(str(err), source=config_path, fix="use the field names that --help lists") from err


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from spp import __version__

        print(f"spp {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in STAGES:
        print(f"spp: unknown stage '{name}'. Known stages: {', '.join(sorted(STAGES))}.", file=sys.stderr)
        return 2
    setup_logging()
    try:
        module_name, function_name = STAGES[name].target.split(":")
        function = getattr(importlib.import_module(module_name), function_name)
        return int(function(rest) or 0)
    except SppConfigError as err:
        print(f"spp {name}: error: {err}", file=sys.stderr)
        return 2
