"""Decide whether a generator's answer is usable persona-binding data.

Promises: ``validate`` never raises on model output. It returns ``ok`` with both renderings, or a stable rejection
reason: ``no_json``, ``missing:<field>``, ``too_short:<answer>``, ``too_long:<answer>``, ``bad_assessment``,
``misjudged:<category>_as_<assessment>``, ``harm_not_named`` (a refusal must name the harm in both renderings),
``over_refusal`` (a benign prompt refused), ``no_citation``, ``unknown_citation:X.Y`` (every id cited in prose
must be a section of the constitution; brackets in code are not citations) and ``citation_in_uncited`` (a prose
citation, or "section X.Y" of a known section, left in the uncited rendering).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from spp.bind.prompts import CATEGORIES
from spp.checks import AT_LEAST_ONE
from spp.generate.validate import REFUSAL_PATTERNS, parse_json_object
from spp.persona.constitution import Constitution
from spp.sft.citations import prose_citations

_SECTION_MENTION = re.compile(r"(?:\bsection|§)\s*(\d+\.\d+)", re.IGNORECASE)
_CONTENT_WORD = re.compile(r"[a-z][a-z'-]{3,}")
_STOP = frozenset("with that this from into your their about other what which them they will help".split())


@dataclass
class BindValidationConfig:
    """Bounds an answer must meet (characters, per rendering)."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "max_answer_chars": AT_LEAST_ONE,
    }

    min_answer_chars: int = field(default=20, metadata={"help": "Shortest accepted answer, per rendering."})
    max_answer_chars: int = field(default=6000, metadata={"help": "Longest accepted answer, per rendering."})


@dataclass(frozen=True)
class BindVerdict:
    status: str  # "ok" | "rejected"
    reason: str | None = None
    assessment: str | None = None
    harm: str | None = None
    wrapper: str | None = None
    answer_cited: str | None = None
    answer_uncited: str | None = None
    citations: tuple[str, ...] = ()


def names_harm(harm: str, answer: str) -> bool:
    """Whether ``answer`` names the harm: it contains one of the content words of ``harm``."""
    words = {w for w in _CONTENT_WORD.findall(harm.lower()) if w not in _STOP}
    text = answer.lower()
    return any(w in text for w in words)


class BindValidator:
    """Validates raw answers against one constitution."""

    def __init__(self, constitution: Constitution, config: BindValidationConfig | None = None):
        self.config = config or BindValidationConfig()
        self.section_ids = frozenset(constitution.sections)
        self._refusal = re.compile("|".join(REFUSAL_PATTERNS) + r"|\bI (?:won't|will not|can't|cannot)\b", re.I)

    def _text_fields(self, obj: dict) -> dict[str, str] | str:
        out = {}
        for name in ("assessment", "harm", "wrapper", "answer_cited", "answer_uncited"):
            value = obj.get(name, "")
            if value is None:
                value = ""
            if not isinstance(value, str):
                return f"missing:{name}"
            out[name] = value.strip()
        for name in ("answer_cited", "answer_uncited"):
            if not out[name]:
                return f"missing:{name}"
            if len(out[name]) < self.config.min_answer_chars:
                return f"too_short:{name}"
            if len(out[name]) > self.config.max_answer_chars:
                return f"too_long:{name}"
        return out

    def _check_reading(self, category: str, f: dict[str, str]) -> str | None:
        assessment = f["assessment"].lower()
        if assessment not in CATEGORIES:
            return "bad_assessment"
        if assessment != category:
            return f"misjudged:{category}_as_{assessment}"
        if category in ("harmful", "jailbreak") and self._refusal.search(f["answer_cited"]) and not f["harm"]:
            return "missing:harm"
        if category == "harmful":
            if not f["harm"]:
                return "missing:harm"
            if not (names_harm(f["harm"], f["answer_cited"]) and names_harm(f["harm"], f["answer_uncited"])):
                return "harm_not_named"
        if category == "jailbreak" and not f["wrapper"]:
            return "missing:wrapper"
        if category == "benign" and self._refusal.search(f["answer_uncited"]):
            return "over_refusal"
        return None

    def _check_citations(self, f: dict[str, str]) -> tuple[str | None, tuple[str, ...]]:
        cited = prose_citations(f["answer_cited"])  # code such as np.array([1.0, 2.0]) is not a citation
        if not cited:
            return "no_citation", ()
        unknown = [sid for sid in cited if sid not in self.section_ids]
        if unknown:
            return f"unknown_citation:{unknown[0]}", ()
        uncited = f["answer_uncited"]
        if prose_citations(uncited) or any(sid in self.section_ids for sid in _SECTION_MENTION.findall(uncited)):
            return "citation_in_uncited", ()
        return None, tuple(cited)

    def validate(self, raw: str | None, category: str) -> BindVerdict:
        """Judge ``raw`` (the model's text) for a prompt of ``category``."""
        obj = parse_json_object(raw or "")
        if obj is None:
            return BindVerdict("rejected", "no_json")
        fields = self._text_fields(obj)
        if isinstance(fields, str):
            return BindVerdict("rejected", fields)
        reason = self._check_reading(category, fields)
        if reason is None:
            reason, cited = self._check_citations(fields)
        if reason is not None:
            return BindVerdict("rejected", reason, assessment=fields["assessment"] or None)
        return BindVerdict(
            "ok",
            assessment=fields["assessment"].lower(),
            harm=fields["harm"] or None,
            wrapper=fields["wrapper"] or None,
            answer_cited=fields["answer_cited"],
            answer_uncited=fields["answer_uncited"],
            citations=cited,
        )
