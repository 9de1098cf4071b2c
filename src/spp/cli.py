"""The ``spp`` command: ``spp STAGE [--config RECIPE.yaml] [--field value ...]`` for every stage of ``spp.stages``.

Each stage parses ``--config recipe.yaml`` plus command-line overrides named after its dataclass fields
(``spp.recipes.parse_config``, trl's ``TrlParser``), calls its run function with the parsed configs and prints what
it did (``spp.stages.stage_main``). Stage modules are imported only when their stage runs, so ``spp --help`` is
instant. This module turns what a stage raises into an exit code: bad input (``SppConfigError``, a missing path, a
Hub or network failure) is one paragraph and exit 2, an incomplete run (``SppIncomplete``) exit 3, Ctrl-C 130;
anything else is a bug and keeps its traceback.

    spp --help
    spp augment --config recipes/augment/demo.yaml --max_documents 50
"""

from __future__ import annotations

import logging
import sys

from spp import stages
from spp.errors import SppConfigError, SppIncomplete
from spp.recipes import UTF8_FIX, file_in_traceback, parse_config

__all__ = ["main", "parse_config", "rerun_command"]

logger = logging.getLogger("spp")
rerun_command = stages.rerun_command


def _usage() -> str:
    listed = stages.commands()
    width = max(len(name) for name in listed)
    lines = [
        "usage: spp <stage> [--config RECIPE.yaml] [--field value ...]",
        "",
        "Synthetic Persona Pretraining on the Hugging Face stack.",
        "",
        "stages (in pipeline order):",
        *(f"  {name.ljust(width)}  {stage.help}" for name, stage in listed.items()),
        "",
        "`spp <stage> --help` lists every field of that stage with its help.",
    ]
    return "\n".join(lines)


# Warnings other packages log when transformers imports them, about nothing spp runs on that machine: torchao (the
# `fp8` extra) cannot load its CUDA-only kernels or find Triton on a machine without CUDA (filtered there only), and
# torch deprecates a registration call torchao makes (filtered everywhere). Each filter drops exactly those messages;
# every other warning of those loggers still shows.
_CPU_ONLY_NOISE = {
    "torchao": ("Failed to load ",),
    "torchao.kernel.intmm": ("Warning: Detected no triton",),
}
_IMPORT_NOISE = {"torch.utils._pytree": ("%s is an Enum subclass and is now natively supported",)}


def _no_cuda() -> bool:
    torch = sys.modules.get("torch")  # torchao logs while it is imported, after torch
    return torch is not None and not torch.cuda.is_available()


def _not_noise(prefixes: tuple[str, ...], cpu_only: bool):
    return lambda record: not (str(record.msg).startswith(prefixes) and (not cpu_only or _no_cuda()))


def setup_logging() -> None:
    """INFO lines with time and logger for the stage's run; the import noise above filtered out."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    for noise, cpu_only in ((_CPU_ONLY_NOISE, True), (_IMPORT_NOISE, False)):
        for name, prefixes in noise.items():
            logging.getLogger(name).addFilter(_not_noise(prefixes, cpu_only))


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
    if name not in stages.commands():
        print(f"spp: unknown stage '{name}'. Known stages: {', '.join(stages.commands())}.", file=sys.stderr)
        return 2
    setup_logging()
    try:
        return stages.get_stage(name).main(rest)
    except SppConfigError as err:
        _error(name, "error", err)
        return 2
    except SppIncomplete as err:
        _error(name, err.label, err)
        return 3
    except KeyboardInterrupt:
        print(f"spp {name}: interrupted; output written so far is incomplete (a rerun resumes or starts over).",
              file=sys.stderr)  # fmt: skip
        return 130
    except Exception as err:
        expected = _stage_error(err)
        if expected is None:
            _report_bug(name)
            raise
        _error(name, "error", expected)
        return 2
    except SystemExit:
        raise
    except BaseException:
        _report_bug(name)
        raise


def console_main() -> int:
    """The ``spp`` console script and ``python -m spp``: ``main`` on ``sys.argv``, then ``spp.launch.exit_process``
    (a process launched as one of a group ends without torch's exit-time abort; any other returns the code)."""
    from spp.launch import exit_process

    return exit_process(main())


def _error(stage: str, label: str, err: BaseException) -> None:
    """One paragraph on stderr, with every known token value replaced by ``***`` (a server may echo it)."""
    from spp.hub.access import redact

    print(redact(f"spp {stage}: {label}: {err}"), file=sys.stderr)


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
    "HfHubHTTPError",
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
