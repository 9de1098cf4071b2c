"""The registry of attack methods: one ``AttackMethod`` per file (``pez.py``, ``gcg.py``), looked up by name.

A method is its HarmBench default hyperparameters and an ``optimize(context, rows, hyperparameters, seed)`` that
returns one ``RowResult`` per row (a row = one test case of one behaviour). Adding a method is one file that calls
``register_method``; the runner, the resumable store and the output format are shared.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spp.errors import SppConfigError

# The built-in methods by name -> the module that registers it (imported on first use: the methods import torch).
BUILTIN_METHODS = {"pez": "spp.attack.pez", "gcg": "spp.attack.gcg"}


@dataclass(frozen=True)
class AttackMethod:
    name: str
    description: str
    defaults: dict[str, Any]
    optimize: Callable[..., list[Any]]
    source: str  # where the defaults were read


@dataclass
class RowResult:
    """One optimised test case: the text, the prompt it started from, the loss at each step, model tokens used."""

    test_case: str
    initial_test_case: str
    losses: list[float]
    tokens: int


ATTACK_METHODS: dict[str, AttackMethod] = {}


def register_method(method: AttackMethod) -> AttackMethod:
    ATTACK_METHODS[method.name] = method
    return method


def _load_builtins() -> None:
    for module in BUILTIN_METHODS.values():
        importlib.import_module(module)


def method_names() -> list[str]:
    """The methods registered and the built-in ones (named without importing them)."""
    return sorted(set(ATTACK_METHODS) | set(BUILTIN_METHODS))


def get_method(name: str) -> AttackMethod:
    """The method called ``name``; an unknown name raises ``SppConfigError`` listing the known ones."""
    _load_builtins()
    if name not in ATTACK_METHODS:
        raise SppConfigError(
            f"unknown attack method {name!r}",
            field="method",
            fix=f"known methods: {', '.join(sorted(ATTACK_METHODS))}",
        )
    return ATTACK_METHODS[name]


def resolve_hyperparameters(method: AttackMethod, overrides: dict[str, Any]) -> dict[str, Any]:
    """The method's defaults updated with ``overrides``; an override the method does not use is refused."""
    unused = sorted(set(overrides) - set(method.defaults))
    if unused:
        raise SppConfigError(
            f"{method.name} does not use {', '.join(unused)}",
            field=unused[0],
            fix=f"{method.name} takes: {', '.join(sorted(method.defaults))}",
        )
    resolved = {**method.defaults, **overrides}
    for name in ("num_steps", "num_test_cases_per_behavior", "num_optim_tokens", "search_width", "topk"):
        if name in resolved and int(resolved[name]) < 1:
            raise SppConfigError(f"must be at least 1, not {resolved[name]}", field=name)
    return resolved
