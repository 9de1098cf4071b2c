"""Names of revisions: the ``step-NNNNNNN`` checkpoint branches spp writes, ``main`` and release tags, and the
``branch_pattern`` that reads checkpoint refs named otherwise (a released trajectory)."""

from __future__ import annotations

import re

from spp.errors import SppConfigError

STEP_PREFIX = "step-"
STEP_DIGITS = 7
_STEP_RE = re.compile(rf"^{STEP_PREFIX}(\d{{{STEP_DIGITS}}})$")
_REVISION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Checkpoint refs of spp (step-0001000) and of the SPP authors' release as far as we know it (step1000,
# step1000-tokens4B): a step group and an optional tokens group (a number with a K/M/B/T unit).
DEFAULT_BRANCH_PATTERN = r"^step-?(?P<step>\d+)(?:-tokens(?P<tokens>\d+(?:\.\d+)?[KMBT]?))?$"
_UNITS = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


def step_branch(step: int) -> str:
    """``step-0001000`` for step 1000: zero-padded so that names sort in step order."""
    if step < 0 or step >= 10**STEP_DIGITS:
        raise SppConfigError(f"step {step} does not fit a {STEP_DIGITS}-digit branch name", field="step")
    return f"{STEP_PREFIX}{step:0{STEP_DIGITS}d}"


def parse_step(name: str) -> int | None:
    """The step of a ``step-NNNNNNN`` branch name, or ``None`` for any other name."""
    match = _STEP_RE.match(name)
    return int(match.group(1)) if match else None


def step_branches(names: list[str]) -> list[str]:
    """The ``step-*`` names among ``names``, in step order."""
    return sorted((n for n in names if parse_step(n) is not None), key=lambda n: parse_step(n) or 0)


def check_revision(name: str, field: str = "revision") -> str:
    """``name`` if it is a plain branch or tag name (letters, digits, ``.``, ``_``, ``-``); else ``SppConfigError``."""
    if not _REVISION_RE.match(name) or ".." in name:
        raise SppConfigError(
            f"'{name}' is not a usable branch or tag name", field=field, fix="use letters, digits, '.', '_' and '-'"
        )
    return name


def step_pattern(pattern: str) -> re.Pattern:
    """``branch_pattern`` compiled; it must capture the step (one group, or a group named ``step``)."""
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise SppConfigError(f"not a regular expression ({err})", field="branch_pattern") from err
    if "step" not in compiled.groupindex and compiled.groups != 1:
        raise SppConfigError(
            f"{pattern!r} has {compiled.groups} groups: it needs one group capturing the step number (or one named "
            "step)",
            field="branch_pattern",
            fix=r"e.g. '^step-?(\d+)$', or '^ckpt_(?P<step>\d+)_(?P<tokens>\d+B)$'",
        )
    return compiled


def match_step(pattern: re.Pattern, name: str) -> tuple[int, int | None] | None:
    """``(step, tokens named in the ref or None)`` when ``name`` matches the whole pattern, else ``None``."""
    found = pattern.fullmatch(name)
    if found is None:
        return None
    try:
        step = int(found.group("step") if "step" in pattern.groupindex else found.group(1))
    except (TypeError, ValueError):
        return None
    tokens = found.groupdict().get("tokens")
    if tokens:
        number = re.fullmatch(r"(\d+(?:\.\d+)?)([KMBT]?)", tokens)
        tokens = round(float(number.group(1)) * _UNITS[number.group(2)]) if number else None
    return step, tokens or None
