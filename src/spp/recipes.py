"""Recipes: a YAML mapping (or a dict in memory) parsed into a stage's config dataclasses, and the recipe hash.

Both ways into a stage build the same configs: ``parse_config`` (``--config recipe.yaml`` plus command-line overrides,
trl's ``TrlParser``) for the CLI, and ``configs_from_recipe`` (a dict, no argv) for ``spp experiment`` and Python
callers. A recipe value is converted exactly as the CLI converts it (a YAML string ``3e-4`` for a float field comes
out ``0.0003``), and bad input raises ``SppConfigError`` naming the recipe. ``recipe_hash`` is a stable fingerprint of
a resolved configuration, for provenance and identical-SFT checks.

A recipe may derive from another (``load_recipe``): ``base: smollm2-1.7b.yaml`` (a path relative to the recipe's own
folder; ``.yaml`` may be left out) takes every field of that recipe, and the deriving recipe's own fields replace
the base's (a whole value each: a mapping such as ``lr_scheduler_kwargs`` is replaced, not merged). A base may have
a base (a chain); a cycle is refused. Every stage, the experiment and its stage recipes read recipes this way, and
what a stage runs with, hashes and records is the resolved recipe: a ``base:`` key never reaches a config.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import sys
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError, yaml_error

UTF8_FIX = "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 FILE`)"

# Fields that say where or how fast a run goes, not what it computes: excluded from recipe hashes.
RUNTIME_FIELDS = frozenset(
    {
        "output_dir",
        "logging_dir",
        "run_name",
        "report_to",
        "logging_steps",
        "save_steps",
        "save_total_limit",
        "dataloader_num_workers",
        "push_to_hub",
        "hub_model_id",
        "hub_token",
        "resume_from_checkpoint",
        "overwrite_output_dir",
        "overwrite",
        "disable_tqdm",
        "local_rank",
        "per_device_eval_batch_size",
        "eval_steps",
    }
)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def resolved_recipe(*configs: Any, exclude: frozenset[str] = RUNTIME_FIELDS) -> dict[str, Any]:
    """Merge dataclass configs (or dicts) into one JSON-able dict, without runtime-only fields."""
    merged: dict[str, Any] = {}
    for config in configs:
        data = _jsonable(config)
        merged.update({k: v for k, v in data.items() if k not in exclude})
    return merged


def recipe_hash(*configs: Any, exclude: frozenset[str] = RUNTIME_FIELDS) -> str:
    """sha256 of the canonical JSON of ``resolved_recipe(*configs)``."""
    payload = json.dumps(resolved_recipe(*configs, exclude=exclude), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


# A value left for the user to fill in: an ``ORG/`` Hub namespace or a ``your-...`` name (``your-org``).
PLACEHOLDER = re.compile(r"(?<![\w-])ORG/|(?i:(?<![\w-])your-[\w-]*)")


def placeholders(value: Any, name: str = "") -> list[tuple[str, str]]:
    """``(field, value)`` of every string in ``value`` (a config dataclass, a recipe mapping, a list, a string) that
    is a placeholder (``PLACEHOLDER``); nested fields are named ``a.b`` and ``a[0]``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [hit for f in dataclasses.fields(value) for hit in placeholders(getattr(value, f.name), f.name)]
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in placeholders(v, f"{name}.{k}" if name else str(k))]
    if isinstance(value, list | tuple):
        return [hit for i, v in enumerate(value) for hit in placeholders(v, f"{name}[{i}]")]
    if isinstance(value, str) and PLACEHOLDER.search(value):
        return [(name, value)]
    return []


def check_placeholders(*configs: Any, source: str | None = None) -> None:
    """Raise ``SppConfigError`` naming every placeholder value (``placeholders``) in ``configs``: a run never starts
    with a value that was left for the user to fill in."""
    found = [hit for config in configs for hit in placeholders(config)]
    if found:
        listing = ", ".join(f"{name} = {value!r}" for name, value in found)
        raise SppConfigError(
            f"needs a value: {listing} (a placeholder left for you to fill in)",
            source=source,
            field=found[0][0],
            fix="replace it with your own (your Hub org, model, server or path) in the recipe or as --FIELD VALUE",
        )


def spp_parser(dataclass_types: list[type], positional: tuple[str, ...] = (), **kwargs: Any):
    """trl's ``TrlParser`` for ``dataclass_types`` with spp's parse-time rules (``spp.checks``): every value is
    checked (finite numbers in range, real booleans, mappings) before any config is built, and a mapping field
    (``dict``, or a list of them) is read from the command line as JSON or YAML. Its ``--help`` follows
    ``spp.arguments`` (fields grouped by class, allowed values listed, ``positional`` fields)."""
    from trl import TrlParser

    from spp.arguments import HelpFormatter, declaring_class, field_groups, finish_parser, without_values
    from spp.checks import check_mapping, field_specs, parse_mapping, parse_mapping_or_list

    class SppParser(TrlParser):
        def _add_dataclass_arguments(self, dtype):
            groups = field_groups(self, dtype)
            hints = typing.get_type_hints(dtype)
            for field in dataclasses.fields(dtype):
                if field.init:
                    field.type = hints[field.name]
                    self._parse_dataclass_field(groups[declaring_class(dtype, field.name)], field)

        @staticmethod
        def _parse_dataclass_field(parser, field):
            field, ours = without_values(field)
            TrlParser._parse_dataclass_field(parser, field)
            action = parser._option_string_actions.get(f"--{field.name}")
            origin = typing.get_origin(field.type)
            if action is None:
                return
            action.spp_values, action.spp_known = ours.get("values"), ours.get("known")
            negation = parser._option_string_actions.get(f"--no_{field.name}")
            if negation is not None:  # HfArgumentParser's --no_FIELD repeats the help with the opposite default
                negation.help, negation.default = f"Same as --{field.name} false.", argparse.SUPPRESS
            if origin is dict or field.type is dict:
                action.type = parse_mapping
            elif origin is list and typing.get_origin(typing.get_args(field.type)[0]) is dict:
                action.type = parse_mapping_or_list

        def parse_known_args(self, args=None, namespace=None):
            namespace, rest = super().parse_known_args(args=args, namespace=namespace)
            values = vars(namespace)
            for cls in self.dataclass_types:
                for spec in field_specs(cls):
                    value = values.get(spec.name)
                    if isinstance(value, list) and any(isinstance(v, list) for v in value):
                        values[spec.name] = [x for v in value for x in (v if isinstance(v, list) else [v])]
            check_mapping(values, self.dataclass_types)
            return namespace, rest

    kwargs.setdefault("formatter_class", HelpFormatter)
    parser = SppParser(dataclass_types, **kwargs)
    finish_parser(parser, positional)
    return parser


def parse_config(
    dataclass_types: list[type],
    argv: list[str] | None,
    prog: str,
    description: str = "",
    check: bool = True,
    positional: tuple[str, ...] = (),
) -> tuple[Any, ...]:
    """Parse ``--config`` YAML plus overrides into ``dataclass_types``; bad input raises ``SppConfigError``, and so
    does a placeholder value (``check_placeholders``; ``check=False`` leaves them to the caller, e.g. a dry run that
    lists them). ``positional``: fields that values before the first option fill (``spp.arguments``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    config_path = argv[argv.index("--config") + 1] if "--config" in argv[:-1] else None
    if config_path is not None and not Path(config_path).is_file():
        raise SppConfigError("recipe file not found", source=config_path, fix="pass an existing YAML file to --config")
    recipe = load_recipe(config_path) if config_path is not None else {}
    if config_path is not None:
        at = argv.index("--config")
        del argv[at : at + 2]
    parser = spp_parser(dataclass_types, positional, prog=prog, description=description, exit_on_error=False)
    with _config_errors(config_path):
        _set_recipe_defaults(parser, recipe)
        configs = tuple(parser.parse_args_into_dataclasses(args=argv))
    if check:
        check_placeholders(*configs, source=config_path)
    return configs


def configs_from_recipe(
    dataclass_types: list[type],
    recipe: dict[str, Any],
    source: str | None = None,
    set_env: bool = True,
    check: bool = True,
) -> tuple:
    """The configs a ``--config`` YAML holding ``recipe`` gives, built without any argv: values converted by each
    field's type as on the command line, unknown keys refused, an ``env`` mapping set in ``os.environ`` (as trl's
    parser does; not with ``set_env=False``, a check); bad input raises ``SppConfigError`` naming ``source`` (the file
    the recipe was written to), and so does a placeholder value unless ``check=False`` (as ``parse_config``)."""
    if not isinstance(recipe, dict):
        raise SppConfigError(
            f"a recipe is a mapping of field names to values, found a {type(recipe).__name__}",
            source=source,
            fix="write one `field: value` per line",
        )
    if BASE_KEY in recipe:  # relative to the file the recipe was written to (else the working directory)
        recipe = resolve_base(recipe, Path(source).parent if source else Path.cwd(), source or "the recipe")
    parser = spp_parser(dataclass_types, exit_on_error=False)  # a bad value raises, it does not exit
    with _config_errors(source):
        _set_recipe_defaults(parser, recipe, set_env=set_env)
        configs = tuple(parser.parse_args_into_dataclasses(args=[]))
    if check:
        check_placeholders(*configs, source=source)
    return configs


def _set_recipe_defaults(parser, recipe: dict[str, Any], set_env: bool = True) -> None:
    """What trl's ``parse_args_and_config`` does with a ``--config`` mapping: its ``env`` mapping set in
    ``os.environ`` (not with ``set_env=False``), every other key made the default of its field; a key that names no
    field raises."""
    recipe = dict(recipe)
    env = recipe.pop("env", {})
    if not isinstance(env, dict):
        raise ValueError("`env` field should be a dict in the YAML file.")
    if set_env:
        os.environ.update({str(key): str(value) for key, value in env.items()})
    unknown = parser.set_defaults_with_config(**recipe)
    if unknown:
        raise ValueError(f"Unknown arguments from config file: {unknown}.")


BASE_KEY = "base"


def load_recipe(path: str | Path) -> dict[str, Any]:
    """The mapping of the recipe file ``path`` with its ``base:`` chain resolved (see the module docstring): UTF-8
    YAML holding a mapping, each base found and readable, no cycle; else ``SppConfigError`` naming the file."""
    return _load(Path(path), ())


def _load(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    recipe = _read_recipe(path)
    return resolve_base(recipe, path.parent, str(path), chain + (path.resolve(),)) if BASE_KEY in recipe else recipe


def resolve_base(
    recipe: dict[str, Any], folder: Path, source: str, chain: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """``recipe`` (read from ``source``) over its ``base`` (a path relative to ``folder``), the base's own bases
    resolved first: the base's fields, each replaced by ``recipe``'s where it sets one; ``base`` itself removed."""
    recipe = dict(recipe)
    base = recipe.pop(BASE_KEY)
    if not isinstance(base, str) or not base.strip():
        raise SppConfigError(
            f"base must be the path of another recipe, not {base!r}",
            source=source,
            field=BASE_KEY,
            fix="write e.g. `base: smollm2-1.7b.yaml` (relative to this recipe's folder)",
        )
    path = _base_path(base, folder, source)
    if path.resolve() in chain:
        cycle = " -> ".join(str(p) for p in (*chain, path.resolve()))
        raise SppConfigError(
            f"recipes derive from each other in a cycle: {cycle}",
            source=source,
            field=BASE_KEY,
            fix="make one recipe of the cycle the base of the others (a base must not derive from its overlays)",
        )
    return {**_load(path, chain), **recipe}


def _base_path(base: str, folder: Path, source: str) -> Path:
    """The file ``base`` names: relative to ``folder`` (or absolute), with ``.yaml`` added when it names none."""
    candidates = [folder / base] + ([folder / f"{base}.yaml"] if Path(base).suffix not in (".yaml", ".yml") else [])
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SppConfigError(
        f"base recipe {base!r} not found (looked for {', '.join(str(c) for c in candidates)})",
        source=source,
        field=BASE_KEY,
        fix="give the base's path relative to this recipe's folder",
    )


@contextmanager
def _config_errors(config_path: str | None) -> Iterator[None]:
    """Turn what parsing a recipe raises into ``SppConfigError`` naming ``config_path``."""
    try:
        yield
    except SppConfigError as err:
        if err.source is None and config_path is not None:
            raise SppConfigError(err.detail, source=config_path, field=err.field, fix=err.fix) from err
        raise
    except UnicodeDecodeError as err:
        source = file_in_traceback(err) or config_path or "an input file"
        raise SppConfigError(f"not UTF-8 text (byte {err.start})", source=source, fix=UTF8_FIX) from err
    except argparse.ArgumentError as err:
        field = (err.argument_name or "").split("/")[0].lstrip("-") or None
        raise SppConfigError(
            err.message, source=config_path, field=field, fix="give a value of the field's type"
        ) from err
    except (ValueError, TypeError) as err:  # an unknown key, or a value a config's __post_init__ refuses
        unknown = str(err).startswith(("Unknown arguments", "Some specified arguments are not used"))
        fix = "use the field names that --help lists" if unknown else "change the value the message names (--help)"
        raise SppConfigError(str(err), source=config_path, fix=fix) from err


def _read_recipe(path: str | Path) -> dict[str, Any]:
    """A recipe file's own mapping: UTF-8 YAML holding a mapping of field names (empty: ``{}``); else
    ``SppConfigError`` naming file and line."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise SppConfigError(
            f"not UTF-8 text (byte {err.start})", source=path, fix="save the recipe as UTF-8"
        ) from err
    except yaml.YAMLError as err:
        raise yaml_error(err, path) from err
    if data is not None and not isinstance(data, dict):
        raise SppConfigError(
            f"a recipe is a mapping of field names to values, found a {type(data).__name__}",
            source=str(path),
            fix="write one `field: value` per line",
        )
    return data or {}


def file_in_traceback(err: BaseException) -> str | None:
    """The file being read when ``err`` was raised: an open text file, or a ``Path`` whose text was read."""
    import io
    import traceback

    frames = [frame for frame, _ in traceback.walk_tb(err.__traceback__)]
    for frame in reversed(frames):
        for value in frame.f_locals.values():
            if isinstance(value, io.TextIOWrapper | io.BufferedReader) and isinstance(value.name, str):
                return value.name
        owner = frame.f_locals.get("self")
        if isinstance(owner, Path):
            return str(owner)
    return None
