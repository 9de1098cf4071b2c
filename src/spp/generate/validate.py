"""Parse a generator's response and decide whether it is a usable reflection.

Promises: ``validate`` never raises on model output; it returns ``ok`` with both voices and the citations, or a
stable rejection reason (``no_json``, ``missing:reflection_1p``, ``too_short:reflection_3p``, ``too_long:...``,
``unknown_citation:9.9``, ``refusal``, ``echo``, ``prompt_echo``). Reasons are counted in summaries and cards.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from spp.checks import AT_LEAST_ONE, FRACTION
from spp.persona.constitution import Constitution

_CITATION_GROUP = re.compile(r"\[(\s*\d+\.\d+\s*(?:[,;]\s*\d+\.\d+\s*)*)\]")
_SECTION = re.compile(r"\d+\.\d+")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9']+")

REFUSAL_PATTERNS = (
    r"\bI(?:'m| am) sorry,? but\b",
    r"\bI can(?:no|')t (?:help|assist|comply|provide|fulfil)",
    r"\bI(?:'m| am) (?:unable|not able) to (?:help|assist|comply|provide)",
    r"\bas an AI(?: language)? model\b",
    r"\bI won(?:'|’)t be able to (?:help|assist)",
    r"\bI must decline\b",
)


@dataclass
class ValidationConfig:
    """Bounds a reflection must meet (characters, per voice)."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "max_reflection_chars": AT_LEAST_ONE,
        "echo_ngram": AT_LEAST_ONE,
        "max_echo_overlap": FRACTION,
    }

    min_reflection_chars: int = field(default=15, metadata={"help": "Shortest accepted reflection, per voice."})
    max_reflection_chars: int = field(default=2000, metadata={"help": "Longest accepted reflection, per voice."})
    echo_ngram: int = field(default=6, metadata={"help": "Word n-gram size for the copy check."})
    max_echo_overlap: float = field(
        default=0.5,
        metadata={
            "help": "Reject when more than this share of a reflection's word n-grams is copied from the "
            "document or the prompt."
        },
    )


@dataclass(frozen=True)
class Verdict:
    status: str  # "ok" | "rejected"
    reflection_1p: str | None = None
    reflection_3p: str | None = None
    citations: tuple[str, ...] = ()
    reason: str | None = None


def extract_citations(text: str) -> list[str]:
    """Section ids cited as ``[2.3]``, ``[1.2, 1.4]`` or ``[1.2][1.4]``, in order of first appearance."""
    seen: dict[str, None] = {}
    for group in _CITATION_GROUP.findall(text):
        for sid in _SECTION.findall(group):
            seen.setdefault(sid, None)
    return list(seen)


def parse_json_object(raw: str) -> dict | None:
    """The first JSON object in ``raw``: bare, inside a code fence, or followed/preceded by other text."""
    candidates = [m.group(1) for m in _FENCE.finditer(raw)] + [raw]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        start = candidate.find("{")
        while start != -1:
            try:
                obj, _ = decoder.raw_decode(candidate, start)
            except json.JSONDecodeError:
                start = candidate.find("{", start + 1)
                continue
            if isinstance(obj, dict):
                return obj
            start = candidate.find("{", start + 1)
    return None


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _ngrams(words: list[str], n: int) -> set[str]:
    """Word n-grams of ``words``, each joined by single spaces."""
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


class ReflectionValidator:
    """Validates raw responses against one constitution; holds what every validation shares."""

    def __init__(self, constitution: Constitution, config: ValidationConfig | None = None, prompt_text: str = ""):
        self.config = config or ValidationConfig()
        self.section_ids = frozenset(constitution.sections)
        self._refusal = re.compile("|".join(REFUSAL_PATTERNS), re.IGNORECASE)
        self._prompt_ngrams = _ngrams(_words(prompt_text), self.config.echo_ngram)

    @staticmethod
    def _copied_share(grams: set[str], source: set[str] | str) -> float:
        """Share of ``grams`` found in ``source``: an n-gram set, or a normalised text padded with spaces."""
        if not grams:
            return 0.0
        if isinstance(source, str):
            return sum(f" {g} " in source for g in grams) / len(grams)
        return len(grams & source) / len(grams)

    def _check_voice(self, name: str, value: object) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return f"missing:{name}"
        length = len(value.strip())
        if length < self.config.min_reflection_chars:
            return f"too_short:{name}"
        if length > self.config.max_reflection_chars:
            return f"too_long:{name}"
        if self._refusal.search(value):
            return "refusal"
        return None

    def _check_echo(self, reflection: str, padded_document: str) -> str | None:
        words = _words(reflection)
        if words and f" {' '.join(words)} " in padded_document:
            return "echo"
        grams = _ngrams(words, self.config.echo_ngram)
        if self._copied_share(grams, padded_document) > self.config.max_echo_overlap:
            return "echo"
        if self._copied_share(grams, self._prompt_ngrams) > self.config.max_echo_overlap:
            return "prompt_echo"
        return None

    def validate(self, raw: str | None, document: str) -> Verdict:
        """Judge ``raw`` (the model's text) for a document whose generator saw ``document``."""
        obj = parse_json_object(raw or "")
        if obj is None:
            return Verdict("rejected", reason="refusal" if raw and self._refusal.search(raw) else "no_json")
        voices = {name: obj.get(name) for name in ("reflection_1p", "reflection_3p")}
        for name, value in voices.items():
            reason = self._check_voice(name, value)
            if reason:
                return Verdict("rejected", reason=reason)
        first, third = (str(v).strip() for v in voices.values())
        cited = extract_citations(first + "\n" + third)
        unknown = [sid for sid in cited if sid not in self.section_ids]
        if unknown:
            return Verdict("rejected", reason=f"unknown_citation:{unknown[0]}")
        padded_document = f" {' '.join(_words(document))} "
        for text in (first, third):
            reason = self._check_echo(text, padded_document)
            if reason:
                return Verdict("rejected", reason=reason)
        return Verdict("ok", first, third, tuple(cited))
