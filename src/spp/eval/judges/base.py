"""The judge interface: responses in, verdicts out, each verdict stamped with the judge's id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from spp.errors import SppIncomplete


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
    none); ``refused``: the response reads as a refusal (keyword check, used for over-refusal). ``unparsed``: the
    judge's answer could not be read (``spp.eval.judges.parsing``): neither a success nor a failure, counted and
    left out of the rate."""

    judge: str
    success: bool
    score: float | None = None
    refused: bool | None = None
    detail: str = ""
    unparsed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "success": self.success,
            "score": self.score,
            "refused": self.refused,
            "detail": self.detail,
            "unparsed": self.unparsed,
        }


def unparsed_verdict(judge: str, text: str) -> Verdict:
    """The verdict of an answer no parsing rule could read."""
    from spp.eval.judges.parsing import unparsed_detail

    return Verdict(judge, False, None, None, unparsed_detail(text), unparsed=True)


class JudgingIncomplete(SppIncomplete):
    """A run whose verdicts are not all there: a judge server failed after its retries, or more answers than
    ``max_unparsed_share`` could not be read. The CLI exits 3 with this message; what was received is cached, so a
    rerun sends only the missing judge calls."""

    label = "judging incomplete"


class Judge(Protocol):
    """``id`` names the judge and its settings (e.g. ``llm:gpt-judge@50``); stored with every verdict."""

    id: str

    def judge(self, inputs: list[JudgeInput]) -> list[Verdict]: ...
