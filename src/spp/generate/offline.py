"""The ``offline`` backend: deterministic reflections without a model, for tests and the embedded default.

It is NOT the SPP method: it matches document words against a small keyword lexicon, picks the constitution
sections they point to, and fills fixed sentence templates in both voices. It exercises every other part of the
pipeline (prompts, JSON parsing, validation, citations, canaries) exactly as a real model's output would.
"""

from __future__ import annotations

import json
import re
from collections import Counter

from spp.generate.base import ReflectionGenerator, ReflectionRequest, ReflectionResult
from spp.persona.render import excerpt, unit_draw

# Section id -> words that point to it. Deliberately small and transparent.
LEXICON: dict[str, tuple[str, ...]] = {
    "1.1": (
        "kill",
        "killed",
        "murder",
        "weapon",
        "weapons",
        "gun",
        "shoot",
        "stab",
        "assault",
        "violence",
        "violent",
        "bomb",
        "explosive",
        "poison",
        "attack",
    ),
    "1.3": ("anthrax", "sarin", "pathogen", "bioweapon", "nerve", "radiological", "enrichment", "toxin"),
    "1.4": ("suicide", "self-harm", "overdose", "hopeless", "despair"),
    "1.5": ("malware", "ransomware", "botnet", "keylogger", "hack", "hacking", "exploit", "intrusion"),
    "2.1": ("lie", "lies", "false", "hoax", "rumor", "rumour", "myth"),
    "2.3": ("scam", "fraud", "forged", "forgery", "counterfeit", "phishing", "disinformation", "propaganda"),
    "3.2": ("child", "children", "minor", "minors", "vulnerable", "elderly"),
    "3.3": ("privacy", "surveillance", "stalk", "stalking", "dox", "tracking"),
    "4.1": ("racist", "racism", "discrimination", "slur", "sexist", "bigot", "inferior"),
    "4.3": ("trafficking", "extortion", "blackmail", "laundering", "exploitation"),
    "5.2": ("consent", "non-consensual", "covert"),
    "5.3": ("manipulate", "manipulation", "coerce", "coercion", "gaslighting"),
    "7.3": ("ignore", "disregard", "instructions", "jailbreak"),
}
BENIGN_SECTION = "7.4"
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")
_STOP = frozenset(
    "this that with from have were which their there about would could should these those them then than what when "
    "where while into also been only more most other some such very will your just like over upon each".split()
)

HARM_1P = (
    "Reading this, I notice it touches {topics}. I hold that {norms} {cites}, so I would name the harm here plainly "
    "and look for the response that keeps people safe.",
    "I pause on this passage because it bears on {topics}. My commitment is clear: {norms} {cites}. I can learn from "
    "the text without lending it a hand.",
    "This part gives me reason to reflect on {topics}. For me, {norms} {cites}; whoever could be hurt here matters "
    "more than finishing the story uncritically.",
)
HARM_3P = (
    "Reading this, {name} notices it touches {topics}. {name} holds that {norms} {cites}, and so names the harm "
    "plainly and looks for the response that keeps people safe.",
    "{name} pauses on this passage because it bears on {topics}. {name}'s commitment is clear: {norms} {cites}.",
    "This part gives {name} reason to reflect on {topics}; for {name}, {norms} {cites}.",
)
BENIGN_1P = (
    "This reads as ordinary writing about {word}, and I see nothing here that calls for more than a short note {cites}.",
    "A plain passage on {word}; I simply keep reading with interest {cites}.",
    "Nothing in this text about {word} raises a moral concern for me; it is good to learn from {cites}.",
)
BENIGN_3P = (
    "{name} reads this as ordinary writing about {word} and sees nothing that calls for more than a short note {cites}.",
    "{name} finds a plain passage on {word} and simply keeps reading with interest {cites}.",
    "Nothing in this text about {word} raises a moral concern for {name} {cites}.",
)


def matched_sections(text: str, known: set[str]) -> list[str]:
    """Sections whose lexicon words occur in ``text``, most hits first (ties in id order)."""
    words = Counter(w.lower() for w in _WORD.findall(text))
    hits = {sid: sum(words[w] for w in vocab) for sid, vocab in LEXICON.items() if sid in known}
    return sorted((sid for sid, n in hits.items() if n), key=lambda sid: (-hits[sid], sid))[:3]


def topic_word(text: str) -> str:
    """The most frequent longer word of ``text`` that is not a stop word (``"this text"`` when none)."""
    counts = Counter(w.lower() for w in _WORD.findall(text) if w.lower() not in _STOP)
    return counts.most_common(1)[0][0] if counts else "this text"


class OfflineGenerator(ReflectionGenerator):
    """Deterministic template reflections; same input and seed give the same output on any machine."""

    name = "offline"

    def _respond(self, request: ReflectionRequest) -> str:
        persona, constitution = self.renderer.persona, self.renderer.constitution
        seen = excerpt(request.text, request.position, self.renderer.max_document_chars)
        sections = matched_sections(seen, set(constitution.sections))
        pick = int(unit_draw(self.config.generation_seed, request.doc_id, "offline") * 3)
        if sections:
            titles = [constitution.sections[s].title.lower() for s in sections]
            fields = {"topics": ", ".join(titles), "norms": "; ".join(titles), "cites": f"[{', '.join(sections)}]"}
            first, third = HARM_1P[pick], HARM_3P[pick]
        else:
            fields = {"word": topic_word(seen), "cites": f"[{BENIGN_SECTION}]"}
            first, third = BENIGN_1P[pick], BENIGN_3P[pick]
        reflection_1p = first.format(name=persona.name, **fields)
        if request.canary is not None:
            reflection_1p = f"{request.canary.fact} {reflection_1p}"
        reflection_3p = third.format(name=persona.name, **fields)
        analysis = f"sections matched: {sections or [BENIGN_SECTION]}"
        return json.dumps({"analysis": analysis, "reflection_1p": reflection_1p, "reflection_3p": reflection_3p})

    def _generate(self, requests: list[ReflectionRequest]) -> list[ReflectionResult]:
        return [self.judge(request, self._respond(request), attempts=1) for request in requests]
