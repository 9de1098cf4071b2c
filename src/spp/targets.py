"""``"module:name"`` targets: how spp's registries name what they import only when it is used.

A registry entry (a stage's run function, a generator backend, a harm scorer) may be the object itself or the string
``"package.module:name"``; ``load_target`` turns either into the object, so registering something never imports it
and ``spp --help`` stays instant.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def load_target(target: Any) -> Any:
    """The object a ``"module:name"`` target names; anything else (a callable, a class, a list) is returned as it
    is. A target that does not resolve raises ``ImportError``/``AttributeError`` naming it."""
    if not isinstance(target, str):
        return target
    module_name, _, name = target.partition(":")
    if not name:
        raise ValueError(f"a target is 'module:name', got {target!r}")
    return getattr(importlib.import_module(module_name), name)


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A package's module-level ``__getattr__`` (PEP 562) for ``exports`` (public name -> the module defining it):
    ``from spp.pretrain import build_run`` imports ``spp.pretrain.builder`` only then, so importing the package stays
    light. Any other name raises ``AttributeError`` as a module's attribute lookup does."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return load_target(f"{exports[name]}:{name}")

    return __getattr__
