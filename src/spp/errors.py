"""Errors a user can act on.

``SppConfigError`` is raised for bad input (a recipe, a constitution, a persona, a data file). The CLI turns it
into one paragraph on stderr and exit code 2, without a traceback; library callers get the exception. The CLI
(``spp.cli.main``) gives the same treatment to the other expected failures (a non-UTF-8 file, a path that is missing
or not a folder, a Hub or network failure); Ctrl-C exits 130 with one line; anything else is a bug and keeps its
traceback, with one line saying where to report it. The ``check_*`` helpers below are the parse-time checks that
config dataclasses call from ``__post_init__``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path


class SppConfigError(ValueError):
    """Bad user input, with where it is (``source``: a file, maybe with a line), what (``field``) and how to fix it."""

    def __init__(self, message: str, *, source: str | Path | None = None, field: str | None = None, fix: str = ""):
        self.source = str(source) if source is not None else None
        self.field = field
        self.fix = fix
        self.detail = message
        super().__init__(self._paragraph())

    def _paragraph(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.field:
            where.append(f"field '{self.field}'")
        text = (": ".join(where) + ": " if where else "") + self.detail.rstrip(".") + "."
        if self.fix:
            text += " " + self.fix.rstrip(".") + "."
        return text


class SppIncomplete(RuntimeError):
    """A run that stopped with part of its work missing, what it finished kept: the CLI prints ``label: message``
    and exits 3, and a rerun does only what is missing (e.g. ``spp.eval.judges.JudgingIncomplete``)."""

    label = "incomplete"


def check_range(config: object, name: str, low: float | None = None, high: float | None = None) -> None:
    """Raise ``SppConfigError`` naming ``field=name`` unless ``low <= config.name <= high`` (``None``: unset ok)."""
    value = getattr(config, name)
    if value is None:
        return
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (
            f"between {low} and {high}"
            if low is not None and high is not None
            else (f"at least {low}" if low is not None else f"at most {high}")
        )
        raise SppConfigError(f"must be {bounds}, got {value!r}", field=name)


_LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".txt", ".md", ".yaml", ".yml", ".arrow", ".safetensors")


def looks_local(value: str) -> bool:
    """Whether ``value`` is meant as a local path rather than a Hub id (``name`` or ``org/name``) or a URL: it
    starts with ``./``, ``../``, ``/`` or ``~``, has more than one ``/``, holds a backslash, ends in a file suffix,
    or exists. (A Hub id holds one ``/``, so ``os.sep`` alone cannot tell them apart on POSIX.)"""
    import os

    if not value or "://" in value:  # a URL (hf://, https://, s3://) is not a local path
        return False
    return (
        value.startswith(("./", "../", "/", "~", ".\\"))
        or value.count("/") > 1
        or "\\" in value
        or (os.sep != "/" and os.sep in value)
        or value.lower().endswith(_LOCAL_SUFFIXES)
        or Path(value).exists()
    )


# Paths that a plan being checked will create before they are read (``planned_paths``): taken as existing; and,
# in a dry run, the missing inputs found (reported, not refused: a plan may be printed where the data is not).
_PLANNED: ContextVar[tuple[Path, ...]] = ContextVar("spp_planned_paths", default=())
_MISSING: ContextVar[list[str] | None] = ContextVar("spp_missing_inputs", default=None)


@contextmanager
def planned_paths(paths: Iterable[str | Path], missing: list[str] | None = None) -> Iterator[None]:
    """Within the block, a path at or under one of ``paths`` counts as existing for the path checks below: a plan
    (``spp experiment``) checks each step's configs before the earlier steps have written their outputs. With a
    ``missing`` list (a dry run), other missing local inputs are appended to it instead of refused."""
    tokens = _PLANNED.set(tuple(Path(p).absolute() for p in paths)), _MISSING.set(missing)
    try:
        yield
    finally:
        _PLANNED.reset(tokens[0])
        _MISSING.reset(tokens[1])


def is_planned(value: str | Path) -> bool:
    """Whether ``value`` lies at or under a path that the plan being checked writes (``planned_paths``): whatever
    is there now, the step that writes it runs first."""
    path = Path(value).absolute()
    return any(path == p or path.is_relative_to(p) for p in _PLANNED.get())


def missing_is_ok(value: str | Path) -> bool:
    """Whether a missing input ``value`` is accepted: a plan writes it, or a dry run lists it (it is recorded)."""
    if is_planned(value):
        return True
    missing = _MISSING.get()
    if missing is not None:
        missing.append(str(value))
        return True
    return False


def check_local_path(value: str, field: str, *, what: str = "path", source: str | None = None) -> None:
    """A ``value`` that looks local (``looks_local``) must exist: it is never sent to the Hub as an id."""
    if not value or any(c in value for c in "*?[") or not looks_local(value) or Path(value).exists():
        return  # a glob is resolved by the loader, which says when it matches nothing
    if missing_is_ok(value):
        return
    fix = "check the path (relative paths are taken from the current directory)"
    if value.startswith("~"):
        fix = "spell the home folder out (~ is not expanded here), or check the path"
    raise SppConfigError(f"{what} {value!r} does not exist", source=source, field=field, fix=fix)


def check_model_path(value: str, field: str, *, tokenizer: bool = False) -> None:
    """A model (or tokenizer) given as a local path must be a folder holding one: ``config.json`` (a model) or a
    tokenizer file; a missing path, a file, or a dataset folder is ``SppConfigError`` naming ``field``."""
    what = "tokenizer" if tokenizer else "model"
    if value and is_planned(value):
        return  # an earlier step of the plan writes it
    check_local_path(value, field, what=f"{what} path")
    path = Path(value)
    if not value or not path.exists():
        return
    if not path.is_dir():
        raise SppConfigError(f"{value!r} is a file, not a {what} folder", field=field, fix=f"give the {what} folder")
    markers = (
        ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
        if tokenizer
        else (
            "config.json",
            "adapter_config.json",
        )
    )
    if not any((path / name).is_file() for name in markers):
        found = (
            "a dataset folder"
            if any((path / n).is_file() for n in ("state.json", "dataset_dict.json"))
            else ("a folder")
        )
        raise SppConfigError(
            f"{value!r} is {found} without {' or '.join(markers)}, not a {what}",
            field=field,
            fix=f"point --{field} at a saved {what} (save_pretrained output) or a Hub id",
        )


def yaml_error(err: Exception, source: str | Path) -> SppConfigError:
    """A ``yaml.YAMLError`` as one line naming ``source:LINE`` and the problem."""
    mark = getattr(err, "problem_mark", None)
    where = f"{source}:{mark.line + 1}" if mark is not None else str(source)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return SppConfigError(f"malformed YAML ({problem})", source=where, fix="fix the YAML syntax at that line")


def check_output_dir(value: str | Path | None, field: str = "output_dir") -> None:
    """An output folder must be a folder (or not exist yet) that can be written: refused at parse time, before
    anything is claimed or loaded, when it is a file or its nearest existing folder is not writable."""
    import os

    if not value:
        return
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise SppConfigError(f"{value!s} is a file, not a folder", field=field, fix="give a folder (new or existing)")
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise SppConfigError(f"{existing} is a file, so {value!s} cannot be created", field=field, fix="give a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SppConfigError(
            f"{existing} is not writable, so nothing can be written to {value!s}",
            field=field,
            fix="give a folder you can write to (or fix its permissions)",
        )
