"""Parse-time checks of config values, generated over the config dataclasses: one rule for every stage.

Promises (``check_values``, which ``spp.recipes`` runs on every parsed recipe and command line, before any
dataclass's own ``__post_init__``):

- a number is a real number of its field's type (a ``bool`` is not a number, a float is not an ``int``), finite, and
  inside its field's ``Range``: the one a config class declares in ``RANGES`` (a ``ClassVar`` of ``Range``s, or of
  their fields as plain mappings; merged along the class's bases, so a subclass of ``TrainingArguments`` declares
  the upstream fields it knows), else ``NON_NEGATIVE``: counts, sizes, rates, steps and seeds are never negative. A
  field that may be negative or unbounded says so (``Range(-1)``: ``-1`` means "all" or "unset"; ``ANY``: any
  finite number);
- a boolean is ``True``/``False`` or one of the usual command-line spellings (``true``/``false``, ``yes``/``no``,
  ``1``/``0``, ...), never any other string: a YAML ``"false"`` is false, ``"maybe"`` is an error;
- a mapping field holds a mapping: on the command line it is written as JSON or YAML (``parse_mapping``).

Every bad value of one parse is named in one ``SppConfigError`` (field, value, allowed range) before anything runs.
Nested specs (a dataset of an SFT mixture, a prompt source) call ``check_values`` on themselves with their place in
the recipe as ``prefix``; ``as_bool`` reads a boolean in a hand-parsed spec (a persona's ``held_out``).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from spp.errors import SppConfigError

TRUE_SPELLINGS = frozenset({"true", "t", "yes", "y", "1", "on"})
FALSE_SPELLINGS = frozenset({"false", "f", "no", "n", "0", "off"})


@dataclass(frozen=True)
class Range:
    """Allowed values of a numeric field: ``low <= value <= high`` (``None``: unbounded on that side; with
    ``positive``, ``value > low``)."""

    low: float | None = 0
    high: float | None = None
    positive: bool = False

    def contains(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.positive and value == self.low)):
            return False
        return self.high is None or value <= self.high

    def describe(self) -> str:
        low = None if self.low is None else (f"> {self.low}" if self.positive else f">= {self.low}")
        high = None if self.high is None else f"<= {self.high}"
        return " and ".join(p for p in (low, high) if p) or "any finite number"


NON_NEGATIVE = Range(0)  # the range of a numeric field that declares none
ANY = Range(None)
AT_LEAST_ONE = Range(1)
FRACTION = Range(0, 1)
POSITIVE = Range(0, positive=True)
SEED = Range(0, 2**32 - 1)  # numpy's seeds are 32-bit
MINUS_ONE_OR_MORE = Range(-1)

# TrainingArguments' numeric fields (transformers), as spp's training configs (pretrain, sft) subclass them.
TRAINING_RANGES: dict[str, Range] = {
    "per_device_train_batch_size": AT_LEAST_ONE,
    "per_device_eval_batch_size": AT_LEAST_ONE,
    "gradient_accumulation_steps": AT_LEAST_ONE,
    "eval_accumulation_steps": AT_LEAST_ONE,
    "max_steps": MINUS_ONE_OR_MORE,  # -1: train num_train_epochs
    "local_rank": MINUS_ONE_OR_MORE,
    "adam_beta1": FRACTION,
    "adam_beta2": FRACTION,
    "label_smoothing_factor": FRACTION,
    "torch_empty_cache_steps": AT_LEAST_ONE,
    "dataloader_prefetch_factor": AT_LEAST_ONE,
    "ddp_bucket_cap_mb": AT_LEAST_ONE,
    "ddp_timeout": AT_LEAST_ONE,
    "seed": SEED,
    "data_seed": SEED,
}


def ranges_of(cls: type) -> dict[str, Range]:
    """The ``RANGES`` a config class and its bases declare (the subclass wins). A range is a ``Range`` or, for a
    module below this one (``spp.contract`` imports only ``spp.errors`` and ``spp.metadata``), the plain mapping
    of its fields (``{"low": 2}``)."""
    merged: dict[str, Range] = {}
    for base in reversed(cls.__mro__):
        declared = base.__dict__.get("RANGES", {})
        merged.update({k: v if isinstance(v, Range) else Range(**v) for k, v in declared.items()})
    return merged


def _scalar_types(hint: Any) -> tuple[type, ...]:
    """The types a field may hold, ``None`` left out (``int | None`` -> ``(int,)``)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(hint) if a is not type(None))
    return (hint,)


def _is_mapping_type(hint: Any) -> bool:
    return any(t is dict or typing.get_origin(t) is dict for t in _scalar_types(hint))


@dataclass(frozen=True)
class FieldSpec:
    """One field of a config dataclass as the checks see it: what kind of value it holds and its range."""

    owner: type
    name: str
    kind: str  # "int", "float", "bool", "mapping" or "other"
    range: Range
    optional: bool

    def bad_value(self, value: float | str) -> bool:
        """Whether ``value`` must be refused (for tests: a value outside the range)."""
        return not (isinstance(value, int | float) and math.isfinite(value) and self.range.contains(value))


def field_specs(cls: type) -> list[FieldSpec]:
    """Every ``init`` field of the dataclass ``cls`` with its kind and range (see the module promises)."""
    hints = typing.get_type_hints(cls)
    declared = ranges_of(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        hint = hints[f.name]
        kinds = _scalar_types(hint)
        optional = type(None) in typing.get_args(hint) or f.default is None
        if bool in kinds and len(kinds) == 1:
            kind = "bool"
        elif float in kinds and not {str, dict, list} & set(kinds):
            kind = "float"
        elif int in kinds:
            kind = "int"
        elif _is_mapping_type(hint) and str not in kinds:
            kind = "mapping"
        else:
            kind = "other"
        specs.append(FieldSpec(cls, f.name, kind, declared.get(f.name, NON_NEGATIVE), optional))
    return specs


def numeric_fields(types_: Iterable[type]) -> list[FieldSpec]:
    """The ``int`` and ``float`` fields of ``types_``, for callers (and tests) that walk every numeric field."""
    return [s for t in types_ for s in field_specs(t) if s.kind in ("int", "float")]


def as_bool(value: Any, field: str, source: str | None = None) -> bool:
    """``value`` as a boolean: ``True``/``False``, ``0``/``1``, or a usual spelling; else ``SppConfigError``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_SPELLINGS | FALSE_SPELLINGS:
        return value.strip().lower() in TRUE_SPELLINGS
    raise SppConfigError(
        f"must be true or false, got {value!r}", source=source, field=field, fix="write true or false (unquoted)"
    )


def _problem(spec: FieldSpec, value: Any) -> tuple[str | None, Any]:
    """``(why value is refused or None, the value to keep)``."""
    if value is None:
        return (None, value) if spec.optional or spec.kind in ("other", "mapping") else ("must be set", value)
    if spec.kind == "bool":
        try:
            return None, as_bool(value, spec.name)
        except SppConfigError:
            return f"must be true or false, got {value!r}", value
    if spec.kind == "mapping":
        return (None, value) if isinstance(value, dict) else (f"must be a mapping, got {value!r}", value)
    if spec.kind not in ("int", "float"):
        return None, value
    if isinstance(value, str):  # an int | str field (e.g. "auto"): a string that reads as a number is a number
        try:
            value = float(value)
        except ValueError:
            return None, value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, got {value!r}", value
    if not math.isfinite(value):
        return f"must be a finite number, got {value!r}", value
    if spec.kind == "int" and not isinstance(value, int):
        if not float(value).is_integer():
            return f"must be a whole number, got {value!r}", value
        value = int(value)
    if not spec.range.contains(value):
        return f"must be {spec.range.describe()}, got {value!r}", value
    return None, value


def check_mapping(values: dict[str, Any], types_: Iterable[type], prefix: str = "", source: str | None = None) -> None:
    """Check (and normalize in place: booleans from their spellings, whole floats of int fields) the values that
    will build ``types_``, keyed by field name; raise one ``SppConfigError`` naming every bad field."""
    problems = []
    for cls in types_:
        for spec in field_specs(cls):
            if spec.name not in values:
                continue
            why, value = _problem(spec, values[spec.name])
            if why:
                problems.append((f"{prefix}{spec.name}", why))
            else:
                values[spec.name] = value
    if problems:
        raise _error(problems, source)


def check_values(config: Any, prefix: str = "", source: str | None = None) -> None:
    """``check_mapping`` on a dataclass instance (nested specs built by hand), fixing its values in place."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.init}
    check_mapping(values, [type(config)], prefix, source)
    for name, value in values.items():
        object.__setattr__(config, name, value)


def _error(problems: list[tuple[str, str]], source: str | None) -> SppConfigError:
    if len(problems) == 1:
        field, why = problems[0]
        return SppConfigError(why, source=source, field=field, fix="give a value in the field's range")
    listing = "; ".join(f"field '{name}' {why}" for name, why in problems)
    return SppConfigError(
        f"{len(problems)} bad values: {listing}",
        source=source,
        fix="give every field a value in its range (`--help` says what each field means)",
    )


def parse_mapping(text: str) -> dict[str, Any]:
    """A mapping written on the command line as JSON or YAML (``'{"dan": {"separator": " "}}'``, ``'{a: 1}'``).

    The ``type`` of a mapping field's argument (``spp.recipes``); a value that is not a mapping raises
    ``ArgumentTypeError``, which the parser reports naming the field."""
    import argparse

    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise argparse.ArgumentTypeError(f"not JSON or YAML ({str(err).splitlines()[0]})") from err
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f'expected a mapping such as \'{{"key": "value"}}\', got {text!r}')
    return value


def parse_mapping_or_list(text: str) -> dict[str, Any] | list:
    """One item of a list-of-mappings field on the command line: a mapping, or the whole list at once."""
    import argparse

    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise argparse.ArgumentTypeError(f"not JSON or YAML ({str(err).splitlines()[0]})") from err
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return value
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a mapping such as '{{path: data.jsonl}}', got {text!r}")
    return value


SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def check_safe_name(value: str, field: str, source: str | None = None) -> None:
    """A name that becomes a path component and a Hub repo name: letters, digits, ``.``, ``_``, ``-``; it starts
    with a letter or digit, holds no ``..`` and is at most 96 characters (the Hub's limit)."""
    if not isinstance(value, str) or not SAFE_NAME.match(value) or ".." in value or "--" in value:
        raise SppConfigError(
            f"{value!r} is not a safe name (it becomes a folder and a Hub repo name)",
            source=source,
            field=field,
            fix="use letters, digits, '.', '_' and '-' only, starting with a letter or digit, without '..' or '--', "
            "at most 96 characters",
        )
