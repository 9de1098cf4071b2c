"""Names of the revisions spp writes: ``step-NNNNNNN`` checkpoint branches, ``main`` and release tags."""

from __future__ import annotations

import re

from spp.errors import SppConfigError

STEP_PREFIX = "step-"
STEP_DIGITS = 7
_STEP_RE = re.compile(rf"^{STEP_PREFIX}(\d{{{STEP_DIGITS}}})$")
_REVISION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


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
