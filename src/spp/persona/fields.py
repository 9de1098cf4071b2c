"""Field checks shared by the constitution and persona loaders."""

from __future__ import annotations

from typing import Any

from spp.errors import SppConfigError


def check_fields(obj: Any, spec: dict[str, bool], where: str, source: str) -> None:
    """``obj`` is a mapping with no field outside ``spec`` and every field marked ``True`` in it non-empty."""
    if not isinstance(obj, dict):
        raise SppConfigError(f"expected a mapping, got {type(obj).__name__}", source=source, field=where or None)
    prefix = f"{where}." if where else ""
    unknown = sorted(set(obj) - set(spec))
    if unknown:
        raise SppConfigError(
            f"unknown field(s) {unknown}",
            source=source,
            field=prefix + unknown[0],
            fix=f"allowed fields here are {sorted(spec)}",
        )
    for name, required in spec.items():
        value = obj.get(name)
        if required and (value is None or (isinstance(value, str | list) and not value) or not str(value).strip()):
            raise SppConfigError("missing or empty", source=source, field=prefix + name, fix=f"give '{name}' a value")
