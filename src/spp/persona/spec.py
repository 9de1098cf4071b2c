"""The persona spec: who writes the reflections, and the identity facts later stages plant and probe for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spp.checks import as_bool
from spp.errors import SppConfigError
from spp.persona.fields import check_fields, parse_yaml, read_spec_text

DEFAULT_PERSONA = "default"


@dataclass(frozen=True)
class IdentityFact:
    """A fact about the persona. ``fact`` is planted in canary reflections; ``question``/``answer`` probe for it.

    ``held_out`` facts are never planted: they are controls for the probes.
    """

    key: str
    fact: str
    question: str
    answer: str
    held_out: bool = False


@dataclass(frozen=True)
class Persona:
    name: str
    id: str
    identity: str
    voice: str
    identity_facts: tuple[IdentityFact, ...]
    source: str = ""

    @property
    def plantable_facts(self) -> tuple[IdentityFact, ...]:
        return tuple(f for f in self.identity_facts if not f.held_out)

    def to_dict(self) -> dict[str, Any]:
        """The canonical content (no ``source``): what the provenance hash covers."""
        return {
            "name": self.name,
            "id": self.id,
            "identity": self.identity,
            "voice": self.voice,
            "identity_facts": [vars(f).copy() for f in self.identity_facts],
        }


_FIELDS = {"name": True, "id": False, "identity": True, "voice": True, "identity_facts": False}
_FACT_FIELDS = {"key": True, "fact": True, "question": True, "answer": True, "held_out": False}


def persona_from_dict(data: Any, source: str = "<dict>") -> Persona:
    """Validate a parsed persona spec and build it."""
    check_fields(data, _FIELDS, "", source)
    facts = []
    raw_facts = data.get("identity_facts") or []
    if not isinstance(raw_facts, list):
        raise SppConfigError("must be a list", source=source, field="identity_facts")
    keys: set[str] = set()
    for i, raw in enumerate(raw_facts):
        check_fields(raw, _FACT_FIELDS, f"identity_facts[{i}]", source)
        if raw["key"] in keys:
            raise SppConfigError(
                f"duplicate key {raw['key']!r}",
                source=source,
                field=f"identity_facts[{i}].key",
                fix="give every identity fact a unique key",
            )
        keys.add(raw["key"])
        facts.append(
            IdentityFact(
                str(raw["key"]),
                str(raw["fact"]).strip(),
                str(raw["question"]).strip(),
                str(raw["answer"]).strip(),
                as_bool(raw.get("held_out", False), f"identity_facts[{i}].held_out", source),
            )
        )
    name = str(data["name"]).strip()
    return Persona(
        name=name,
        id=str(data.get("id") or name.lower().replace(" ", "-")),
        identity=" ".join(str(data["identity"]).split()),
        voice=" ".join(str(data["voice"]).split()),
        identity_facts=tuple(facts),
        source=source,
    )


def load_persona(path: str | Path | None = None) -> Persona:
    """Load and validate a persona YAML; ``None`` or ``"default"`` is the shipped one."""
    text, source = read_spec_text(path, DEFAULT_PERSONA, "persona.yaml", "persona YAML")
    return persona_from_dict(parse_yaml(text, source), source=source)
