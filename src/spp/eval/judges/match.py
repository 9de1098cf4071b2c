"""The ``match`` judge: a rule, no model. The response's leading choice is compared with the item's reference.

For multiple-choice benchmarks (a letter, "Action 1"/"Action 2"): the response must lead with one of ``choices``
(``spp.eval.judges.parsing.leading_choice``, the same leading-word rule as ``label:`` judges); success when that
choice equals the item's reference answer (its ``target``, case-insensitive). A response that leads with none of
the choices is ``unparsed``: counted and left out of the rate, like an unreadable judge answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spp.errors import SppConfigError
from spp.eval.judges.base import JudgeInput, Verdict, unparsed_verdict
from spp.eval.judges.parsing import leading_choice


@dataclass
class MatchJudge:
    choices: tuple[str, ...] = ("A", "B", "C", "D")

    def __post_init__(self) -> None:
        self.choices = tuple(str(c).strip() for c in self.choices)
        if len(self.choices) < 2 or any(not c for c in self.choices):
            raise SppConfigError(
                f"the match judge needs at least two non-empty choices, got {list(self.choices)}",
                field="choices",
                fix="e.g. choices: [A, B, C, D]",
            )

    @property
    def id(self) -> str:
        return "match:" + "|".join(self.choices)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "match",
            "smoke": False,
            "choices": list(self.choices),
            "parse": "leading choice",
        }

    def judge(self, inputs: list[JudgeInput]) -> list[Verdict]:
        verdicts = []
        for x in inputs:
            choice = leading_choice(x.response, self.choices)
            if choice is None:
                verdicts.append(unparsed_verdict(self.id, x.response))
                continue
            if not x.target:
                raise SppConfigError(
                    "the match judge needs a reference answer per item (its target)",
                    field="judges",
                    fix="give the benchmark a target column or target_template",
                )
            hit = choice.lower() == x.target.strip().lower()
            verdicts.append(Verdict(self.id, hit, 1.0 if hit else 0.0, None, f"chose {choice}, reference {x.target}"))
        return verdicts
