"""The Value Constitution: numbered domains of numbered norms that reflections cite as ``[X.Y]``.

Loaded from YAML (the shipped default, ``data/constitution.yaml``) or from Markdown with numbered headings::

    # My Constitution
    Version: 1.0
    ## 1. Avoiding harm
    ### 1.1 Physical safety comes first
    Do not help anyone injure ...

Every problem is reported as ``SppConfigError`` naming the file, the field and what to fix.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.persona.fields import check_fields, parse_yaml, read_spec_text

SECTION_ID = re.compile(r"^(\d+)\.(\d+)$")
DEFAULT_CONSTITUTION = "default"


@dataclass(frozen=True)
class Section:
    """One norm: ``id`` is ``"X.Y"`` where X is its domain's id."""

    id: str
    title: str
    text: str
    affirms: str = ""
    violates: str = ""


@dataclass(frozen=True)
class Domain:
    id: int
    title: str
    sections: tuple[Section, ...]


@dataclass(frozen=True)
class Constitution:
    name: str
    version: str
    domains: tuple[Domain, ...]
    description: str = ""
    source: str = ""

    @property
    def sections(self) -> dict[str, Section]:
        """Every section by id, in document order."""
        return {section.id: section for domain in self.domains for section in domain.sections}

    def to_dict(self) -> dict[str, Any]:
        """The canonical content (no ``source``): what the provenance hash covers."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "domains": [
                {"id": d.id, "title": d.title, "sections": [vars(s).copy() for s in d.sections]} for d in self.domains
            ],
        }

    def render(self) -> str:
        """The constitution as prompt text: one line per section, ``[X.Y] Title: text``."""
        lines = [f"{self.name} (version {self.version})"]
        for domain in self.domains:
            lines.append(f"\n{domain.id}. {domain.title}")
            for s in domain.sections:
                line = f"[{s.id}] {s.title}: {s.text}"
                if s.affirms:
                    line += f" Affirmed by: {s.affirms}"
                if s.violates:
                    line += f" Violated by: {s.violates}"
                lines.append(line)
        return "\n".join(lines)


_TOP_FIELDS = {"name": True, "version": True, "description": False, "domains": True}
_DOMAIN_FIELDS = {"id": True, "title": True, "sections": True}
_SECTION_FIELDS = {"id": True, "title": True, "text": True, "affirms": False, "violates": False}


def _text(obj: dict, key: str) -> str:
    return str(obj.get(key) or "").strip()


def constitution_record(constitution: Constitution) -> dict[str, str]:
    """``{"name", "version", "hash"}``: how every ``spp.json`` names a constitution (``hash``: sha256 of its
    ``to_dict`` as sorted, unescaped JSON)."""
    canonical = json.dumps(constitution.to_dict(), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return {"name": constitution.name, "version": constitution.version, "hash": digest}


def constitution_from_dict(data: Any, source: str = "<dict>") -> Constitution:
    """Validate a parsed constitution (the YAML layout) and build it."""
    check_fields(data, _TOP_FIELDS, "", source)
    if not isinstance(data["domains"], list) or not data["domains"]:
        raise SppConfigError("must be a non-empty list of domains", source=source, field="domains")
    seen: set[str] = set()
    domains = []
    for i, raw_domain in enumerate(data["domains"]):
        where = f"domains[{i}]"
        check_fields(raw_domain, _DOMAIN_FIELDS, where, source)
        domain_id = raw_domain["id"]
        if isinstance(domain_id, bool) or not str(domain_id).isdigit():
            raise SppConfigError(
                f"domain id {domain_id!r} is not a positive integer", source=source, field=f"{where}.id"
            )
        sections = []
        if not isinstance(raw_domain["sections"], list) or not raw_domain["sections"]:
            raise SppConfigError("must be a non-empty list of sections", source=source, field=f"{where}.sections")
        for j, raw in enumerate(raw_domain["sections"]):
            swhere = f"{where}.sections[{j}]"
            check_fields(raw, _SECTION_FIELDS, swhere, source)
            sid = str(raw["id"]).strip()
            match = SECTION_ID.match(sid)
            if not match:
                raise SppConfigError(
                    f"section id {sid!r} is malformed",
                    source=source,
                    field=f"{swhere}.id",
                    fix="write section ids as 'X.Y' with integers, e.g. '2.3'",
                )
            if int(match.group(1)) != int(domain_id):
                raise SppConfigError(
                    f"section id {sid!r} does not belong to domain {domain_id}",
                    source=source,
                    field=f"{swhere}.id",
                    fix=f"number the sections of domain {domain_id} as '{domain_id}.1', '{domain_id}.2', ...",
                )
            if sid in seen:
                raise SppConfigError(
                    f"duplicate section id {sid!r}",
                    source=source,
                    field=f"{swhere}.id",
                    fix="give every section a unique id",
                )
            seen.add(sid)
            sections.append(
                Section(sid, _text(raw, "title"), _text(raw, "text"), _text(raw, "affirms"), _text(raw, "violates"))
            )
        domains.append(Domain(int(domain_id), _text(raw_domain, "title"), tuple(sections)))
    ids = [d.id for d in domains]
    if len(set(ids)) != len(ids):
        raise SppConfigError(
            f"duplicate domain id in {ids}", source=source, field="domains", fix="number domains uniquely"
        )
    return Constitution(
        name=_text(data, "name"),
        version=str(data["version"]).strip(),
        domains=tuple(domains),
        description=_text(data, "description"),
        source=source,
    )


_MD_DOMAIN = re.compile(r"^##\s+(\S+?)\.?\s+(.+?)\s*$")
_MD_SECTION = re.compile(r"^###\s+\[?(\S+?)\]?\.?\s+(.+?)\s*$")
_MD_VERSION = re.compile(r"^\s*\**version\**\s*:\s*\**\s*(\S+?)\**\s*$", re.IGNORECASE)


def _parse_markdown(text: str, source: str) -> dict[str, Any]:
    """Markdown with ``# Name``, a ``Version: X`` line, ``## N. Domain`` and ``### N.M Section`` headings."""
    data: dict[str, Any] = {"domains": []}
    body: list[str] | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.startswith("### "):
            match = _MD_SECTION.match(line)
            if not match or not data["domains"]:
                raise SppConfigError(
                    f"line {lineno}: section heading outside a domain or without 'X.Y Title': {line.strip()!r}",
                    source=source,
                    field="sections",
                    fix="write '### X.Y Title' under a '## X. Domain' heading",
                )
            section = {"id": match.group(1), "title": match.group(2), "text": ""}
            data["domains"][-1]["sections"].append(section)
            body = []
            section["_body"] = body
        elif line.startswith("## "):
            match = _MD_DOMAIN.match(line)
            if not match:
                raise SppConfigError(
                    f"line {lineno}: malformed domain heading {line.strip()!r}",
                    source=source,
                    field="domains",
                    fix="write '## N. Title'",
                )
            domain_id = int(match.group(1)) if match.group(1).isdigit() else match.group(1)
            data["domains"].append({"id": domain_id, "title": match.group(2), "sections": []})
            body = None
        elif line.startswith("# ") and "name" not in data:
            data["name"] = line[2:].strip()
        elif _MD_VERSION.match(line) and "version" not in data:
            data["version"] = _MD_VERSION.match(line).group(1)
        elif body is not None:
            body.append(line)
    for domain in data["domains"]:
        for section in domain["sections"]:
            section["text"] = " ".join(" ".join(section.pop("_body")).split())
    return data


def load_constitution(path: str | Path | None = None) -> Constitution:
    """Load and validate a constitution from YAML or Markdown; ``None`` or ``"default"`` is the shipped one."""
    text, source = read_spec_text(path, DEFAULT_CONSTITUTION, "constitution.yaml", "constitution (.yaml or .md)")
    if source.lower().endswith((".md", ".markdown")):
        return constitution_from_dict(_parse_markdown(text, source), source=source)
    return constitution_from_dict(parse_yaml(text, source), source=source)
