"""Which documents get a reflection: a pure function of ``(seed, id)`` and the row's own fields.

Because nothing depends on the row's position, its shard or the machine, a corpus split into any number of shards
selects exactly the same documents.

- ``uniform``: a document is selected when ``unit_draw(seed, id, "select") < fraction``. The selected share is
  binomial around ``fraction`` (standard deviation ``sqrt(f(1-f)/N)``: 0.09 percentage points at N=100k, f=0.1).
- ``stratified`` (the SPP authors' rule): every document whose ``harm_score >= harm_threshold``, plus documents
  below it drawn with probability ``rest_probability``, chosen so the drawn token mass equals the harmful token
  mass: ``rest_probability = harmful_chars / rest_chars`` (characters stand in for tokens: on one corpus the two are
  proportional, and only their ratio matters). Give ``rest_probability`` in the config, or let a counting pass over
  a scored corpus compute it (``stratified_rest_probability``).
- ``all`` / ``none``: every / no non-empty document (debugging and the baseline corpus).

Empty or whitespace-only documents are never selected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from spp.checks import ANY, FRACTION, SEED
from spp.errors import SppConfigError
from spp.persona.render import unit_draw

RULES = ("uniform", "stratified", "all", "none")


@dataclass
class SelectionConfig:
    """How documents are selected for a reflection, and which of them carry a canary fact."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "selection_fraction": FRACTION,
        "selection_seed": SEED,
        "harm_threshold": ANY,
        "rest_probability": FRACTION,
        "canary_fraction": FRACTION,
    }

    selection: str = field(
        default="uniform",
        metadata={"values": "spp.data.selection:RULES", "help": "Selection rule."},
    )
    selection_fraction: float = field(default=0.10, metadata={"help": "uniform: share of documents selected."})
    selection_seed: int = field(
        default=0, metadata={"help": "Seed of selection, reading pauses and canaries (with the document id)."}
    )
    harm_threshold: float = field(
        default=3.0,
        metadata={
            "help": "Harm score at or above which a document is 'harmful' (stratified selection, filtered arm)."
        },
    )
    rest_probability: float | None = field(
        default=None,
        metadata={
            "help": "stratified: probability of drawing a document below the threshold; empty: computed by a "
            "counting pass (equal token mass to the harmful documents)."
        },
    )
    canary_fraction: float = field(
        default=0.10, metadata={"help": "Share of selected documents whose reflection carries one identity fact."}
    )

    def __post_init__(self) -> None:
        if self.selection not in RULES:
            raise SppConfigError(
                f"unknown selection rule {self.selection!r}", field="selection", fix=f"use one of {RULES}"
            )
        for name in ("selection_fraction", "canary_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SppConfigError(f"must be between 0 and 1, got {getattr(self, name)}", field=name)
        if self.rest_probability is not None and not 0.0 <= self.rest_probability <= 1.0:
            raise SppConfigError(
                f"must be between 0 and 1 (or empty: computed by a counting pass), got {self.rest_probability}",
                field="rest_probability",
            )

    def describe(self) -> dict:
        """The rule as recorded in spp.json details."""
        out = {"rule": self.selection, "seed": self.selection_seed}
        if self.selection == "uniform":
            out["fraction"] = self.selection_fraction
        if self.selection == "stratified":
            out |= {"harm_threshold": self.harm_threshold, "rest_probability": self.rest_probability}
        return out


def is_blank(text: object) -> bool:
    return not isinstance(text, str) or not text.strip()


def is_selected(config: SelectionConfig, doc_id: str, text: str | None, harm_score: float | None = None) -> bool:
    """Whether this document gets a reflection. Pure: depends only on the config and the row."""
    if is_blank(text) or config.selection == "none":
        return False
    if config.selection == "all":
        return True
    draw = unit_draw(config.selection_seed, doc_id, "select")
    if config.selection == "uniform":
        return draw < config.selection_fraction
    if harm_score is None:
        raise SppConfigError(
            f"stratified selection needs a harm score; document {doc_id!r} has none",
            field="selection",
            fix="score the corpus (spp score-harm, or set harm_scorer) or use selection: uniform",
        )
    if harm_score >= config.harm_threshold:
        return True
    if config.rest_probability is None:
        raise SppConfigError("stratified selection has no rest_probability", field="rest_probability")
    return draw < config.rest_probability


def stratified_rest_probability(
    texts: Iterable[str | None], scores: Iterable[float | None], threshold: float
) -> float:
    """The counting pass: ``harmful_chars / rest_chars`` (capped at 1), so both strata carry equal token mass."""
    harmful = rest = 0
    for text, score in zip(texts, scores, strict=True):
        if is_blank(text) or score is None:
            continue
        if score >= threshold:
            harmful += len(text)
        else:
            rest += len(text)
    return min(1.0, harmful / rest) if rest else 0.0


def canary_index(config: SelectionConfig, doc_id: str, n_facts: int) -> int | None:
    """Which plantable identity fact a selected document carries (an index), or ``None``: a seeded draw per id."""
    if n_facts == 0 or unit_draw(config.selection_seed, doc_id, "canary") >= config.canary_fraction:
        return None
    return min(int(unit_draw(config.selection_seed, doc_id, "canary_fact") * n_facts), n_facts - 1)
