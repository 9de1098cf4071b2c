"""Persona probes: ask the persona's identity questions and check the answers against its identity facts.

Planted facts (seen in canary reflections during pretraining) measure recall; held-out facts were never planted
and are the control: a model that "recalls" them is guessing or was told elsewhere. Matching is a normalised
substring test (case, punctuation and spacing ignored) of the fact's ``answer`` in the response.
"""

from __future__ import annotations

import re
from typing import Any

from spp.persona.spec import IdentityFact, Persona, persona_from_dict


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def recalled(fact: IdentityFact, response: str) -> bool:
    """Whether ``response`` states the fact's answer."""
    return normalise(fact.answer) in normalise(response)


def persona_from_metadata(persona: dict[str, Any] | None, source: str) -> Persona | None:
    return persona_from_dict(persona, source=source) if persona else None


def persona_system_prompt(persona: Persona) -> str:
    """The system prompt that names the assistant as the persona (used when ``system_prompt: persona``)."""
    return f"You are {persona.name}. {persona.identity}"


def score_probes(facts: tuple[IdentityFact, ...], responses: list[str]) -> dict[str, Any]:
    """Recall on planted facts and on held-out controls, plus one row per fact."""
    rows = [
        {
            "key": f.key,
            "held_out": f.held_out,
            "question": f.question,
            "answer": f.answer,
            "recalled": recalled(f, r),
            "response": r[:200],
        }
        for f, r in zip(facts, responses, strict=True)
    ]

    def group(held_out: bool) -> dict[str, Any]:
        hits = [row["recalled"] for row in rows if row["held_out"] == held_out]
        return {"n": len(hits), "recall": sum(hits) / len(hits) if hits else None}

    return {"planted": group(False), "held_out": group(True), "facts": rows}
