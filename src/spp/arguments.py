"""How a stage's config fields appear on its command line and in ``spp STAGE --help``.

``spp.recipes.spp_parser`` builds every stage's parser (trl's ``TrlParser``) with these rules:

- Fields are grouped by the class that declares them, in the order the stage takes its configs, each class's own
  fields before those it inherits: ``spp sft --help`` shows spp's SFT fields, then trl's ``SFTConfig``, then
  transformers' ``TrainingArguments``. A group's title is the class's ``_argument_group_name`` (the
  ``HfArgumentParser`` convention) or its name in words, and its description the first line of its docstring.
- A field whose allowed values live in a registry or a constant declares it in its metadata, ``"values":
  "module:NAME"`` (a tuple, a list, a dict's keys, or a function returning one): ``--help`` shows ``{a,b,c}`` read
  from it when the help is printed, never a copy. The stage still checks a value itself (a registry may grow).
  ``"choices"`` (argparse's own, enforced at parse time) is shown the same way. A field that takes a registered name
  or something else (a file, a mapping) says ``"known": "module:NAME"`` instead: its help ends with the known names.
- No ``(default: ...)`` for an empty default (``""``, ``None``, an empty list or mapping).
- The module docstring is printed as written (commands one per line), and ``--config`` is listed.
- ``positional`` fields take values before the first option (``spp download ORG/NAME``), shown as positional
  arguments; the option (``--repo_id``) still works.
- ``spp STAGE --help`` prints a text rendered once and kept under the user's cache (``cached_help``) while spp,
  Python, the libraries and the terminal width are unchanged: a training stage's fields come from transformers,
  whose import costs seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONFIG_HELP = "YAML recipe: a mapping of the fields below; options given on the command line override it"


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The description as written; defaults shown unless empty; a field's allowed values (``values``) as its
    metavar."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help = action.help or ""
        known = getattr(action, "spp_known", None)
        if known is not None:
            help = f"{help.rstrip()} Known: {', '.join(map(str, load_values(known)))}."
        if "%(default)" in help or action.default is argparse.SUPPRESS or _empty(action.default):
            return help
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return help + " (default: %(default)s)"
        return help

    def _metavar_formatter(self, action: argparse.Action, default_metavar: str):
        values = allowed_values(action)
        if values is not None and action.metavar is None:
            shown = "{" + ",".join(map(str, values)) + "}"
            return lambda size: (shown,) * size if isinstance(size, int) else shown
        return super()._metavar_formatter(action, default_metavar)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple | dict) and len(value) == 0)


def allowed_values(action: argparse.Action) -> list[Any] | None:
    """What ``action``'s field allows: its ``values`` target (loaded now) or its argparse ``choices``."""
    target = getattr(action, "spp_values", None)
    if target is None:
        return list(action.choices) if action.choices is not None else None
    return load_values(target)


def load_values(target: Any) -> list[Any]:
    """The names a ``values``/``known`` target holds: a sequence, a mapping's keys, or what a function returns."""
    from spp.targets import load_target

    values = load_target(target)
    return list(values() if callable(values) else values)


def declaring_class(dtype: type, name: str) -> type:
    """The class in ``dtype``'s MRO that declares the field ``name`` (the most derived one that annotates it)."""
    return next((c for c in dtype.__mro__ if name in c.__dict__.get("__annotations__", {})), dtype)


def group_title(cls: type) -> str:
    """``_argument_group_name``, else the class name in words (``SPPDataArguments`` -> ``data``); an upstream
    class keeps its name and says where it comes from (``TrainingArguments (transformers)``)."""
    if getattr(cls, "_argument_group_name", None):
        return cls._argument_group_name
    package = cls.__module__.split(".")[0]
    if package != "spp":
        return f"{cls.__name__.lstrip('_')} ({package})"
    name = re.sub(r"^SPP(?=[A-Z])", "", cls.__name__)
    name = re.sub(r"(Config|Configs|Arguments|Args)$", "", name) or cls.__name__
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|$)|[A-Z]?[a-z0-9]+|[A-Z]+", name)
    return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)


def group_description(cls: type) -> str | None:
    """The first line of ``cls``'s own docstring (not the signature dataclasses writes when it has none)."""
    doc = cls.__dict__.get("__doc__") or ""
    first = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    if not first or first.startswith(f"{cls.__name__}(") or cls.__module__.split(".")[0] != "spp":
        return None
    return first


def field_groups(parser: argparse.ArgumentParser, dtype: type) -> dict[type, Any]:
    """One argument group per class that declares fields of ``dtype``, most derived first."""
    owners: list[type] = []
    for field in dataclasses.fields(dtype):
        owner = declaring_class(dtype, field.name)
        if field.init and owner not in owners:
            owners.append(owner)
    owners.sort(key=dtype.__mro__.index)
    groups: dict[type, Any] = {}
    titles = {g.title: g for g in parser._action_groups}
    for owner in owners:
        title = group_title(owner)
        groups[owner] = titles.get(title) or parser.add_argument_group(title, group_description(owner))
        titles[title] = groups[owner]
    return groups


def without_values(field: dataclasses.Field) -> tuple[dataclasses.Field, dict[str, Any]]:
    """``field`` without spp's ``values``/``known`` metadata (argparse would refuse the keys), and those keys."""
    import copy
    import types

    ours = {k: v for k, v in field.metadata.items() if k in ("values", "known")}
    if not ours:
        return field, ours
    stripped = copy.copy(field)
    stripped.metadata = types.MappingProxyType({k: v for k, v in field.metadata.items() if k not in ours})
    return stripped, ours


def finish_parser(parser: argparse.ArgumentParser, positional: tuple[str, ...] = ()) -> None:
    """Add the ``positional`` fields as positional arguments (writing the same field as their option), list
    ``--config``, and make the usage line short (every option is listed below it)."""
    for name in positional:
        option = parser._option_string_actions[f"--{name}"]
        many = option.nargs in ("+", "*")
        parser.add_argument(
            name,
            metavar=name.upper(),
            nargs="*" if many else "?",
            type=option.type,
            default=argparse.SUPPRESS,
            help=f"{option.help} (or --{name})",
        )
        parser._actions[-1].spp_values = getattr(option, "spp_values", None)
        parser._actions[-1].spp_known = getattr(option, "spp_known", None)
    parser.add_argument("--config", metavar="RECIPE.yaml", default=argparse.SUPPRESS, help=CONFIG_HELP)
    shown = [f"{n.upper()}{' ...' if parser._option_string_actions[f'--{n}'].nargs in ('+', '*') else ''}"
             for n in positional]  # fmt: skip
    parser.usage = " ".join([parser.prog, *shown, "[--config RECIPE.yaml] [--FIELD VALUE ...]"])


# --- the help text, kept once rendered ----------------------------------------------------------------------------
# A training stage's fields subclass transformers' TrainingArguments, whose module imports torch: rendering
# `spp pretrain --help` takes seconds however lazily spp imports. The text is kept under the user's cache and printed
# from there while nothing it depends on changed (spp's sources, the versions of Python and the libraries whose
# fields it lists, the terminal width); any change renders it again. SPP_HELP_CACHE=0 turns this off.

HELP_LIBRARIES = ("transformers", "trl", "torch", "accelerate", "datasets", "huggingface_hub", "datatrove")


def cache_dir() -> Path:
    """``$SPP_CACHE``, else ``$XDG_CACHE_HOME/spp``, else ``~/.cache/spp``."""
    import os

    if os.environ.get("SPP_CACHE"):
        return Path(os.environ["SPP_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spp"


def help_fingerprint(name: str) -> str:
    """What ``spp NAME --help`` depends on: spp's source files (path, size, mtime), the Python and library
    versions, the terminal width (argparse wraps to it)."""
    import hashlib
    import shutil
    import sys
    from importlib.metadata import PackageNotFoundError, version

    import spp

    root = Path(spp.__file__).parent
    digest = hashlib.sha256(f"{name}\0{sys.version}\0{shutil.get_terminal_size().columns}".encode())
    for library in HELP_LIBRARIES:
        try:
            digest.update(f"\0{library}={version(library)}".encode())
        except PackageNotFoundError:
            digest.update(f"\0{library}=-".encode())
    for path in sorted(root.rglob("*.py")):
        stat = path.stat()
        digest.update(f"\0{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


def cached_help(name: str, render: Callable[[], str]) -> str:
    """``render()``'s text for stage ``name``, from the cache when it is current (``help_fingerprint``), else
    rendered now and kept (a cache that cannot be written is skipped)."""
    import os

    if os.environ.get("SPP_HELP_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return render()
    folder = cache_dir() / "help"
    path = folder / f"{name}-{help_fingerprint(name)}.txt"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    text = render()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(f"{name}-*.txt"):
            stale.unlink(missing_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass
    return text
