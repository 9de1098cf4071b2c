"""The augmentation step: select -> pause -> generate -> validate, as one batched function over rows.

``Augmenter`` is a plain callable for ``Dataset.map(augmenter, batched=True)`` and ``IterableDataset.map``; the
``spp augment`` job drives the same object over chunks of the corpus. For every row it returns the columns of the
DESIGN data model: ``id`` (the source id, else the sha256 of the text), ``reflection_1p``, ``reflection_3p``,
``citations``, ``reflection_position``, ``reflection_status`` (``none`` | ``ok`` | ``rejected`` | ``failed``),
``reflection_reason`` (the rejection reason, the generator error, ``empty_document``, or ``trimmed:1p,3p`` for an ok
reflection cut to the budget), ``canary`` (the planted identity fact's key, else ``None``) and ``raw_response``
(kept for rejected and failed rows only, for audit), plus ``harm_score`` when a scorer is given and the batch has no
score yet. With a ``ReflectionFit`` (the training tokenizer and the reflection contract) the pause is sampled in
that tokenizer's tokens (``reflection_token_position``) and each voice's block length is recorded
(``reflection_tokens_1p``/``_3p``); nothing over the budget leaves it as ``ok``. With ``placement="end"`` every
reflection column is written with the ``end_`` prefix (the ``spp_t0_end`` ablation's own columns).

Promises: the text is never modified; every row gets a status (nothing is dropped); the output depends only on the
rows and the configs (selection, pause and canary draws are seeded per document id), never on batch boundaries.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from spp.data.fit import ReflectionFit
from spp.data.scoring import HarmScorer
from spp.data.selection import SelectionConfig, canary_index, is_blank, is_selected
from spp.data.sources import text_id
from spp.errors import SppConfigError
from spp.generate.base import ReflectionGenerator, ReflectionRequest, ReflectionResult
from spp.persona.render import sample_pause

REFLECTION_COLUMNS = (
    "reflection_1p",
    "reflection_3p",
    "citations",
    "reflection_position",
    "reflection_token_position",
    "reflection_tokens_1p",
    "reflection_tokens_3p",
    "reflection_status",
    "reflection_reason",
    "canary",
    "raw_response",
)
# The end placement (the spp_t0_end ablation) writes the same columns under this prefix, beside the pause ones.
PLACEMENT_PREFIXES = {"pause": "", "end": "end_"}


def reflection_columns(placement: str = "pause") -> tuple[str, ...]:
    """The reflection columns a run in ``placement`` writes."""
    return tuple(PLACEMENT_PREFIXES[placement] + name for name in REFLECTION_COLUMNS)


EMPTY = "empty_document"


@dataclass
class AugmentStats:
    """What a run did, in counts; adds up over batches, chunks and shards."""

    rows: int = 0
    selected: int = 0
    status: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)  # by reason
    failed: Counter = field(default_factory=Counter)  # by error
    empty_documents: int = 0
    canaries: Counter = field(default_factory=Counter)  # by fact key
    harm_histogram: Counter = field(default_factory=Counter)  # rows by harm score ("missing": not scored)
    harmful_rows: int = 0  # rows with harm_score >= the selection's harm_threshold
    tokens_in: int = 0
    tokens_out: int = 0
    trimmed: Counter = field(default_factory=Counter)  # ok rows whose voice was cut to the budget, by voice
    block_tokens: Counter = field(default_factory=Counter)  # measured blocks by length bucket (16 tokens wide)
    generator_seconds: float = 0.0
    scorer_seconds: float = 0.0

    def add(self, other: AugmentStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def subtract(self, other: AugmentStats) -> None:
        """Remove ``other``'s rows from these counts (a chunk's failed rows before they are regenerated)."""
        for name in self.__dataclass_fields__:
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, Counter):
                mine.subtract(theirs)
                setattr(self, name, +mine)
            else:
                setattr(self, name, mine - theirs)

    def to_dict(self) -> dict[str, Any]:
        out = {k: (dict(sorted(v.items())) if isinstance(v, Counter) else v) for k, v in vars(self).items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentStats:
        return cls(
            **{k: Counter(v) if isinstance(v, dict) else v for k, v in data.items() if k in cls.__dataclass_fields__}
        )


def harm_key(score: float | None) -> str:
    """Histogram bucket of a harm score, as ``spp.hub`` writes it: the score rounded to 2 places, or ``missing``."""
    return "missing" if score is None else str(round(float(score), 2))


def block_bucket(tokens: int, width: int = 16) -> str:
    """Histogram bucket of a block length: its lower bound, a multiple of ``width``."""
    return str(tokens // width * width)


def _none_row(reason: str | None = None) -> dict[str, Any]:
    return {name: None for name in REFLECTION_COLUMNS} | {
        "citations": [],
        "reflection_status": "none",
        "reflection_reason": reason,
    }


def _result_row(result: ReflectionResult, canary: str | None, token_position: int | None, lengths) -> dict[str, Any]:
    row = result.to_row()
    row["canary"] = canary
    row["reflection_token_position"] = token_position
    row["reflection_tokens_1p"], row["reflection_tokens_3p"] = lengths.get("1p"), lengths.get("3p")
    if result.status == "ok":
        row["raw_response"] = None
    return {k: row.get(k) for k in REFLECTION_COLUMNS}


class BusyClock:
    """Wall time during which at least one timed call is in flight, over any number of threads.

    ``with clock:`` around each generator or scorer call; ``seconds`` is the union of those intervals, so calls that
    overlap (chunks generated concurrently with ``pipeline_chunks``) are not counted twice. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._since = 0.0
        self._seconds = 0.0

    def __enter__(self) -> BusyClock:
        with self._lock:
            if self._active == 0:
                self._since = time.perf_counter()
            self._active += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._active -= 1
            if self._active == 0:
                self._seconds += time.perf_counter() - self._since

    @property
    def seconds(self) -> float:
        with self._lock:
            return self._seconds + (time.perf_counter() - self._since if self._active else 0.0)


class Augmenter:
    """Batched augmentation over rows ``{text_column: [...], id_column: [...], harm_column: [...]}``.

    ``id_column=None`` takes the sha256 of the text as the id. ``stats`` accumulates over calls; ``busy`` is the
    wall time with a generator or scorer call in flight (from any thread).
    """

    def __init__(
        self,
        generator: ReflectionGenerator,
        selection: SelectionConfig,
        scorer: HarmScorer | None = None,
        text_column: str = "text",
        id_column: str | None = None,
        harm_column: str = "harm_score",
        pause_distribution: str = "uniform_after",
        pause_min_fraction: float = 0.2,
        fit: ReflectionFit | None = None,
        placement: str = "pause",
    ):
        self.generator = generator
        self.selection = selection
        self.scorer = scorer
        self.text_column = text_column
        self.id_column = id_column
        self.harm_column = harm_column
        self.pause_distribution = pause_distribution
        self.pause_min_fraction = pause_min_fraction
        self.fit = fit
        if placement not in PLACEMENT_PREFIXES:
            raise SppConfigError(f"unknown placement {placement!r}", field="placement", fix="use pause or end")
        self.placement = placement
        self.facts = generator.renderer.persona.plantable_facts
        self.stats = AugmentStats()
        self.busy = BusyClock()

    def _ids(self, batch: dict[str, list], texts: list) -> list[str]:
        if self.id_column:
            return [str(i) for i in batch[self.id_column]]
        return [text_id(t) if isinstance(t, str) else text_id("") for t in texts]

    def _scores(self, batch: dict[str, list], texts: list, stats: AugmentStats) -> tuple[list, bool]:
        """The batch's harm scores and whether they are new (computed here)."""
        if self.harm_column in batch:
            return list(batch[self.harm_column]), False
        if self.scorer is None:
            return [None] * len(texts), False
        before = self.scorer.seconds
        with self.busy:
            scores = self.scorer.score(texts)
        stats.scorer_seconds += self.scorer.seconds - before
        return scores, True

    def _pause(self, doc_id: str, text: str) -> tuple[int, int | None]:
        """``(character offset, token index or None)`` of the reading pause (the end for the end placement)."""
        seed, distribution, fraction = self.selection.selection_seed, self.pause_distribution, self.pause_min_fraction
        if self.fit is not None:
            return self.fit.request_pause(text, doc_id, seed, distribution, fraction, self.placement)
        if self.placement == "end":
            return len(text), None
        return sample_pause(text, doc_id, seed, distribution, fraction), None

    def _request(self, doc_id: str, text: str) -> tuple[ReflectionRequest, str | None, int | None]:
        pause, token_pause = self._pause(doc_id, text)
        index = canary_index(self.selection, doc_id, len(self.facts))
        fact = self.facts[index] if index is not None else None
        return ReflectionRequest(doc_id, text, pause, canary=fact), fact.key if fact else None, token_pause

    def _generate(self, requests: list[ReflectionRequest], stats: AugmentStats) -> list[ReflectionResult]:
        start = time.perf_counter()
        with self.busy:
            results = self.generator.generate(requests)
        stats.generator_seconds += time.perf_counter() - start
        return results

    def augment(self, batch: dict[str, list]) -> tuple[dict[str, list], AugmentStats]:
        """The new columns for ``batch`` and what happened to its rows."""
        texts = batch[self.text_column]
        stats = AugmentStats(rows=len(texts))
        for t in texts:
            if t is not None and not isinstance(t, str):
                raise SppConfigError(
                    f"a document is {type(t).__name__}, not text", field="text_column", fix="point it at a text column"
                )
        ids = self._ids(batch, texts)
        scores, scored = self._scores(batch, texts, stats)
        stats.harm_histogram.update(harm_key(s) for s in scores)
        stats.harmful_rows = sum(s is not None and s >= self.selection.harm_threshold for s in scores)
        rows: list[dict[str, Any] | None] = [None] * len(texts)
        pending: list[tuple[int, ReflectionRequest, str | None, int | None]] = []
        for i, (doc_id, text, score) in enumerate(zip(ids, texts, scores, strict=True)):
            if is_blank(text):
                stats.empty_documents += 1
                rows[i] = _none_row(EMPTY)
            elif is_selected(self.selection, doc_id, text, score):
                pending.append((i, *self._request(doc_id, text)))
            else:
                rows[i] = _none_row()
        results = self._generate([request for _, request, _, _ in pending], stats) if pending else []
        for (i, _, canary, token_pause), result in zip(pending, results, strict=True):
            lengths: dict[str, int | None] = {}
            if self.fit is not None:
                fitted = self.fit.fit(result)
                result, lengths = fitted.result, fitted.block_tokens
                stats.trimmed.update(fitted.trimmed)
                stats.block_tokens.update(block_bucket(n) for n in lengths.values() if n is not None)
            rows[i] = _result_row(result, canary, token_pause, lengths)
            stats.tokens_in += result.tokens_in
            stats.tokens_out += result.tokens_out
            if canary and result.status == "ok":
                stats.canaries[canary] += 1
            if result.status == "rejected":
                stats.rejected[str(result.reason)] += 1
            elif result.status == "failed":
                stats.failed[str(result.reason)] += 1
        stats.selected = len(pending)
        stats.status.update(row["reflection_status"] for row in rows)
        columns: dict[str, list] = {"id": ids}
        if scored:
            columns[self.harm_column] = scores
        prefix = PLACEMENT_PREFIXES[self.placement]
        columns |= {prefix + name: [row[name] for row in rows] for name in REFLECTION_COLUMNS}
        return columns, stats

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        columns, stats = self.augment(batch)
        self.stats.add(stats)
        return columns
