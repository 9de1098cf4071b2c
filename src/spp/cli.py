"""The ``spp`` command: one registry of stages, each a module with ``main(argv)``.

Every stage parses ``--config recipe.yaml`` plus command-line overrides named after its dataclass fields
(``spp.recipes.parse_config``, trl's ``TrlParser``), calls its stage's run function with the parsed configs and
prints what it did. Stage modules are imported only when their stage runs, so ``spp --help`` is instant.

    spp --help
    spp augment --config recipes/augment/demo.yaml --max_documents 50
"""

from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass

from spp.errors import SppConfigError
from spp.recipes import UTF8_FIX, file_in_traceback, parse_config

__all__ = ["STAGES", "Stage", "main", "parse_config", "register_stage", "rerun_command"]

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
    "import-reflections": Stage(
        "spp.data.import_cli:main", "join released reflections (a sidecar) to their corpus: an spp corpus for every arm"
    ),
    "inspect": Stage("spp.data.inspect_cli:main", "a dataset's columns, one row, and what spp's mappings read from it"),
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
    "demo": Stage("spp.demo.cli:main", "the whole pipeline at tiny scale on CPU, in minutes"),
    "curves": Stage("spp.eval.cli:curves_main", "measures on every step-* checkpoint branch, against tokens seen"),
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


def rerun_command(stage: str, argv: list[str] | None) -> str:
    """The command line that reruns ``spp STAGE`` with the same arguments (for the message of a run to resume)."""
    import shlex

    return shlex.join(["spp", stage, *(sys.argv[2:] if argv is None else argv)])


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
    except KeyboardInterrupt:
        print(f"spp {name}: interrupted; output written so far is incomplete (a rerun resumes or starts over).",
              file=sys.stderr)  # fmt: skip
        return 130
    except Exception as err:
        expected = _stage_error(err)
        if expected is None:
            _report_bug(name)
            raise
        print(f"spp {name}: error: {expected}", file=sys.stderr)
        return 2
    except SystemExit:
        raise
    except BaseException:
        _report_bug(name)
        raise


def _stage_error(err: Exception) -> SppConfigError | None:
    """An expected failure of a stage as one paragraph, or ``None`` when it is a bug."""
    if isinstance(err, UnicodeDecodeError):
        source = file_in_traceback(err) or "an input file"
        return SppConfigError(f"not UTF-8 text (byte {err.start})", source=source, fix=UTF8_FIX)
    hub = _hub_error(err)
    if hub is not None:
        return hub
    if isinstance(err, _PATH_ERRORS) and err.filename is not None:
        return _path_error(err)
    return None


# Hub and network failures (huggingface_hub, datasets, requests, httpx), matched by class name along the cause chain
# so that none of those libraries is imported here.
_HUB_ERRORS = {
    "RepositoryNotFoundError",
    "RevisionNotFoundError",
    "EntryNotFoundError",
    "RemoteEntryNotFoundError",
    "LocalEntryNotFoundError",
    "GatedRepoError",
    "DisabledRepoError",
    "OfflineModeIsEnabled",
    "HFValidationError",
    "DatasetNotFoundError",
    "ConnectError",
    "ConnectTimeout",
    "ReadTimeout",
}


def _hub_error(err: BaseException) -> SppConfigError | None:
    """``err`` as a Hub/network failure when it, or an error it was raised ``from``, is one. Only explicit causes
    count: an error handled earlier (``__context__``) must not make a later bug look like a network problem."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        chain.append(err)
        err = err.__cause__
    names = {cls.__name__ for e in chain for cls in type(e).__mro__}
    if not names & (_HUB_ERRORS | {"ConnectionError", "TimeoutError"}):
        return None
    message = str(chain[0]).strip().splitlines()[0] if str(chain[0]).strip() else type(chain[0]).__name__
    return SppConfigError(
        f"a Hub or network request failed ({type(chain[0]).__name__}: {message})",
        fix="check the repo id and revision (a local path must exist), the server URL, your network, and HF_TOKEN "
        "for gated or private repos; with HF_HUB_OFFLINE=1 only what is cached can be loaded",
    )


_PATH_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)
BUG_REPORT_URL = "https://github.com/spp-project/spp/issues"


def _path_error(err: OSError) -> SppConfigError:
    """An ``OSError`` on a path the user gave (missing, a file where a folder belongs, not writable)."""
    fixes = {
        FileNotFoundError: "check the path (a relative path is taken from the current directory)",
        FileExistsError: "give a path that is not taken, or remove what is there",
        IsADirectoryError: "give a file here, not a folder",
        NotADirectoryError: "a part of this path is a file; give a folder (output_dir must be a folder)",
        PermissionError: "give a path you can write to (or fix its permissions)",
    }
    fix = next(text for kind, text in fixes.items() if isinstance(err, kind))
    return SppConfigError(err.strerror or type(err).__name__, source=err.filename, fix=fix)


def _report_bug(stage: str) -> None:
    print(
        f"spp {stage}: this is a bug in spp, not in your input: please report it with the traceback below at "
        f"{BUG_REPORT_URL}",
        file=sys.stderr,
    )
