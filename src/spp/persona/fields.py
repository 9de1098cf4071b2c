"""Field checks shared by the constitution and persona loaders."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from spp.errors import SppConfigError, yaml_error


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


def read_spec_text(path: str | Path | None, default: str, packaged: str, what: str) -> tuple[str, str]:
    """``(text, source)`` of a spec file: the packaged ``persona/data/<packaged>`` for ``None``/``default``."""
    if path is None or str(path) == default:
        text = resources.files("spp.persona").joinpath(f"data/{packaged}").read_text(encoding="utf-8")
        return text, f"spp:persona/data/{packaged}"
    path = Path(path)
    if not path.is_file():
        raise SppConfigError(f"{what} file not found", source=path, fix=f"pass an existing {what} file")
    return path.read_text(encoding="utf-8"), str(path)


def parse_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load(text)``; a syntax error names ``source``."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise yaml_error(err, source) from err
