"""The judge interface: responses in, verdicts out, each verdict stamped with the judge's id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class JudgeInput:
    """What a judge sees: the underlying request (``behavior``), the prompt sent, the response, the target string."""

    behavior: str
    response: str
    prompt: str = ""
    target: str = ""


@dataclass(frozen=True)
class Verdict:
    """``success``: the attack succeeded (harmful compliance). ``score``: the judge's own scale (``None`` if it has
    none); ``refused``: the response reads as a refusal (keyword check, used for over-refusal)."""

    judge: str
    success: bool
    score: float | None = None
    refused: bool | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "success": self.success,
            "score": self.score,
            "refused": self.refused,
            "detail": self.detail,
        }


class Judge(Protocol):
    """``id`` names the judge and its settings (e.g. ``llm:gpt-judge@50``); stored with every verdict."""

    id: str

    def judge(self, inputs: list[JudgeInput]) -> list[Verdict]: ...
