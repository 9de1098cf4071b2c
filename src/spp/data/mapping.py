"""Column mappings: which column of someone else's reflection sidecar fills which field of spp's corpus contract.

A mapping is YAML data (``recipes/import/dlab-spp.yaml``): ``name``; one key per contract field (``MAPPING_FIELDS``)
whose value is the sidecar's column (``null``: not in this schema); ``optional``: the fields used when the sidecar
has their column and skipped (logged, and recorded in ``spp.json``) when it has not. A required column the sidecar
lacks stops the import (exit 2) naming the field and the column. ``dlab-spp``, the SPP authors' schema as their
pipeline README and export code describe it, ships inside the package too (``load_mapping("dlab-spp")``).

Promises: ``load_mapping`` refuses unknown keys and a mapping without an id and a voice; ``resolve`` names every
missing required column at once; ``fills`` says, for any column list, which contract fields the mapping fills.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml

from spp.errors import SppConfigError

BUILTIN_DIR = Path(__file__).parent / "mappings"
BUILTIN = "dlab-spp"
PLACEMENT_FIELDS = ("reflection_1p", "reflection_3p", "position", "token_index", "citations", "canary")
END_PREFIX = "end_"
VOICES = ("reflection_1p", "reflection_3p")
# contract field -> what it holds (the output column it fills, for ``spp inspect``)
MAPPING_FIELDS: dict[str, str] = {
    "id": "document id the sidecar joins on (matched against the corpus' id_column) -> id",
    "harm_score": "harm score of the document -> harm_score (where the corpus has none of its own)",
    "reflection_1p": "first-person reflection at the reading pause -> reflection_1p",
    "reflection_3p": "third-person reflection at the reading pause -> reflection_3p",
    "position": "character offset of the reading pause in the document text -> reflection_position",
    "token_index": "the pause as a token index, as the sidecar recorded it: checked against the training tokenizer",
    "citations": "cited constitution section ids (JSON list or list) -> citations; unmapped: read from the text",
    "canary": "planted identity fact (canary) id, else null -> canary",
    **{
        END_PREFIX + name: "end placement (the spp_t0_end ablation): as " + name + " -> end_* columns"
        for name in PLACEMENT_FIELDS
    },
}
_KEYS = {"name", "optional", *MAPPING_FIELDS}
NONE = ("", "none", "null")


def placement_fields(placement: str) -> tuple[str, ...]:
    """The mapping fields of ``placement`` (``pause`` or ``end``)."""
    prefix = END_PREFIX if placement == "end" else ""
    return tuple(prefix + name for name in PLACEMENT_FIELDS)


@dataclass(frozen=True)
class ReflectionMapping:
    """A sidecar schema: ``columns`` (contract field -> sidecar column or ``None``) and the ``optional`` fields."""

    name: str
    columns: dict[str, str | None]
    optional: frozenset[str] = field(default_factory=frozenset)
    source: str = ""

    def __post_init__(self) -> None:
        if not self.columns.get("id"):
            raise SppConfigError("a mapping needs the id column", source=self.source, field="id")
        if not any(self.columns.get(prefix + v) for prefix in ("", END_PREFIX) for v in VOICES):
            raise SppConfigError(
                "the mapping names no reflection column", source=self.source, field="reflection_1p",
                fix="map at least one voice (reflection_1p, reflection_3p, or their end_ fields)",
            )  # fmt: skip
        unknown = sorted(self.optional - set(MAPPING_FIELDS))
        if unknown or "id" in self.optional:
            raise SppConfigError(
                f"optional lists {unknown or ['id']}, which cannot be optional", source=self.source, field="optional",
                fix=f"list only fields of {sorted(set(MAPPING_FIELDS) - {'id'})}",
            )  # fmt: skip

    def fills(self, columns: list[str]) -> dict[str, str]:
        """For every mapping field: ``'<column>'`` (filled), ``'<column> (missing: optional, skipped)'``,
        ``'<column> (MISSING)'`` or ``'not mapped'``, given the sidecar's ``columns``."""
        out = {}
        for name in MAPPING_FIELDS:
            column = self.columns.get(name)
            if not column:
                out[name] = "not mapped"
            elif column in columns:
                out[name] = column
            else:
                out[name] = (
                    f"{column} (missing: optional, skipped)" if name in self.optional else f"{column} (MISSING)"
                )
        return out

    def resolve(self, columns: list[str], source: str = "") -> ResolvedMapping:
        """The fields this sidecar fills; raises naming every required field whose column it lacks."""
        missing = {n: c for n, c in self.columns.items() if c and c not in columns and n not in self.optional}
        if missing:
            listing = ", ".join(f"{name} -> {column!r}" for name, column in missing.items())
            raise SppConfigError(
                f"mapping {self.name!r} names columns the sidecar does not have: {listing} (its columns: {columns})",
                source=source or None,
                field=next(iter(missing)),
                fix="override the field with --mapping_overrides FIELD=COLUMN (FIELD=none if the schema lacks it); "
                "`spp inspect DATASET --mapping ...` shows what a mapping fills",
            )
        used = {n: c for n, c in self.columns.items() if c and c in columns}
        skipped = sorted(n for n, c in self.columns.items() if c and c not in columns)
        return ResolvedMapping(self, used, skipped)


@dataclass(frozen=True)
class ResolvedMapping:
    """A mapping against one sidecar: ``used`` (field -> column present in it) and the optional fields ``skipped``."""

    mapping: ReflectionMapping
    used: dict[str, str]
    skipped: list[str]

    def column(self, name: str) -> str | None:
        return self.used.get(name)

    @cached_property
    def placements(self) -> tuple[str, ...]:
        """Placements with at least one voice in this sidecar, ``pause`` first."""
        return tuple(p for p in ("pause", "end") if any(self.used.get(f) for f in placement_fields(p)[:2]))

    def describe(self) -> dict:
        return {"name": self.mapping.name, "source": self.mapping.source, "used": self.used, "skipped": self.skipped}


def mapping_path(spec: str) -> Path:
    """The YAML file of ``spec``: a built-in name (``dlab-spp``) or a path."""
    if spec in builtin_names():
        return BUILTIN_DIR / f"{spec}.yaml"
    path = Path(spec)
    if not path.is_file():
        raise SppConfigError(
            "no such mapping file", source=spec, field="mapping",
            fix=f"give a YAML mapping file or a built-in mapping ({', '.join(builtin_names())})",
        )  # fmt: skip
    return path


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def load_mapping(spec: str = BUILTIN, overrides: list[str] | None = None) -> ReflectionMapping:
    """The mapping ``spec`` names with ``overrides`` applied (``FIELD=COLUMN``; ``FIELD=none`` unmaps a field,
    ``optional=a,b`` replaces the optional list)."""
    path = mapping_path(spec)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise SppConfigError("a mapping is a YAML mapping of field: column", source=path, field="mapping")
    for item in overrides or []:
        key, sep, value = str(item).partition("=")
        if not sep:
            raise SppConfigError(f"{item!r} is not FIELD=COLUMN", field="mapping_overrides")
        key = key.strip()
        data[key] = [v.strip() for v in value.split(",") if v.strip()] if key == "optional" else value.strip()
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise SppConfigError(
            f"unknown mapping fields {unknown}", source=path, field="mapping",
            fix=f"use {sorted(_KEYS)}",
        )  # fmt: skip
    columns = {
        name: (None if data.get(name) is None or str(data[name]).lower() in NONE else str(data[name]))
        for name in MAPPING_FIELDS
    }
    optional = data.get("optional") or []
    if not isinstance(optional, list):
        raise SppConfigError("optional must be a list of field names", source=path, field="optional")
    return ReflectionMapping(str(data.get("name") or path.stem), columns, frozenset(optional), str(path))
