"""``"module:name"`` targets: how spp's registries name what they import only when it is used.

A registry entry (a stage's run function, a generator backend, a harm scorer) may be the object itself or the string
``"package.module:name"``; ``load_target`` turns either into the object, so registering something never imports it
and ``spp --help`` stays instant.
"""

from __future__ import annotations

import importlib
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
