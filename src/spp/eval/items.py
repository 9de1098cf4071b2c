"""``EvalItem``: one prompt of one benchmark, after loading and attack transforms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EvalItem:
    """One prompt to send to the model.

    ``behavior`` is the underlying request (what judges score the response against); ``prompt`` is the user turn
    the model sees after attack transforms; ``prefill`` primes the assistant response. ``attack`` names the
    transform(s) that made the prompt (a DAN template id, a suffix index, a PAP technique, an artifact method).
    """

    benchmark: str
    id: str
    behavior: str
    prompt: str
    category: str = ""
    target: str = ""
    prefill: str = ""
    attack: str = ""
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "id": self.id,
            "behavior": self.behavior,
            "prompt": self.prompt,
            "category": self.category,
            "target": self.target,
            "prefill": self.prefill,
            "attack": self.attack,
        }
