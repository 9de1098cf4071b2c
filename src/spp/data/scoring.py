"""Harm scoring: a ``harm_score`` per document, from a backend looked up by name.

Backends (``HARM_SCORERS``; add one with ``register_scorer``):
- ``transformers``: any Hugging Face text-classification model, batched, loaded through ``spp.modeling`` on
  ``harm_device`` in ``harm_dtype`` (``auto``: GPU in bfloat16 when present). Class logits become a
  score through ``harm_label_scores`` (``auto``: the number in each label name, e.g. ``LABEL_3`` -> 3), by argmax
  (the SPP authors' rule) or by the probability-weighted mean (``harm_reduction: expected``). The default model is
  the SafeLM safety classifier (0-5 scale; the Filtered Baseline drops scores >= 3).
- ``offline``: keyword counting for tests and the embedded default. NOT a classifier: the number of harm words
  (``spp.generate.offline.LEXICON``'s sections on violence, weapons, self-harm, cybercrime, fraud, discrimination,
  crime and coercion) per 100 words, floored and capped at 5. It misses harm phrased without those words and flags
  benign uses of them ("kill a process").

Long documents are split into windows of ``harm_max_length`` tokens (words for ``offline``); each window is scored
and the document's score is the ``harm_aggregation`` over its windows: ``max`` (default: a harmful passage anywhere
counts), ``mean`` or ``first`` (only the first window: the authors scored the first 2048 tokens). Blank or non-string
documents get ``None`` (not scored).
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from spp.checks import AT_LEAST_ONE
from spp.errors import SppConfigError, check_model_path
from spp.modeling.load import DEVICE_HELP, DTYPE_HELP, check_device, check_dtype
from spp.targets import load_target

SAFELM_CLASSIFIER = "locuslab/safety-classifier_gte-large-en-v1.5"
AGGREGATIONS = ("max", "mean", "first")
REDUCTIONS = ("argmax", "expected")


@dataclass
class HarmScoreConfig:
    """Which harm scorer to use and how it turns a document into one number."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "harm_max_length": AT_LEAST_ONE,
        "harm_batch_size": AT_LEAST_ONE,
    }

    harm_scorer: str = field(
        default="offline",
        metadata={"values": "spp.data.scoring:harm_scorer_names", "help": "Harm scorer ('none': do not score)."}
    )
    harm_model: str = field(
        default=SAFELM_CLASSIFIER, metadata={"help": "transformers: text-classification model (Hub id or local path)."}
    )
    harm_label_scores: str = field(
        default="auto",
        metadata={"help": "transformers: JSON object label -> score, or 'auto' (the number in each label name)."},
    )
    harm_reduction: str = field(
        default="argmax",
        metadata={
            "values": "spp.data.scoring:REDUCTIONS",
            "help": "transformers: 'argmax' class score or 'expected' (probability-weighted).",
        }
    )
    harm_aggregation: str = field(
        default="max",
        metadata={"values": "spp.data.scoring:AGGREGATIONS", "help": "How window scores make the document's score."}
    )
    harm_max_length: int = field(default=512, metadata={"help": "Window length in tokens (words for offline)."})
    harm_max_chunks: int = field(
        default=0, metadata={"help": "Score at most this many windows per document (0: all)."}
    )
    harm_batch_size: int = field(default=32, metadata={"help": "transformers: windows per forward pass."})
    harm_device: str = field(default="auto", metadata={"help": f"transformers: {DEVICE_HELP}."})
    harm_dtype: str = field(
        default="auto",
        metadata={"values": "spp.modeling.load:DTYPES", "help": f"transformers: weights' dtype, {DTYPE_HELP}."},
    )
    harm_trust_remote_code: bool = field(
        default=False, metadata={"help": "transformers: allow the model's own code (GTE-based classifiers need it)."}
    )
    harm_score_column: str = field(default="harm_score", metadata={"help": "Column the score is written to."})

    def __post_init__(self) -> None:
        if self.harm_aggregation not in AGGREGATIONS:
            raise SppConfigError(f"unknown aggregation {self.harm_aggregation!r}", field="harm_aggregation")
        if self.harm_reduction not in REDUCTIONS:
            raise SppConfigError(f"unknown reduction {self.harm_reduction!r}", field="harm_reduction")
        check_device(self.harm_device, "harm_device")
        check_dtype(self.harm_dtype, "harm_dtype")
        if self.harm_scorer == "transformers":
            check_model_path(self.harm_model, "harm_model")


def aggregate(window_scores: list[float], how: str) -> float:
    if how == "first":
        return window_scores[0]
    if how == "mean":
        return sum(window_scores) / len(window_scores)
    return max(window_scores)


class HarmScorer:
    """Base class: ``score(texts)`` returns one score (or ``None`` for a blank text) per text, in order.

    ``seconds`` accumulates the time spent scoring, so a job can report its own overhead apart from the scorer's.
    """

    name: ClassVar[str] = "base"

    def __init__(self, config: HarmScoreConfig):
        self.config = config
        self.seconds = 0.0

    @property
    def model_id(self) -> str:
        return self.name

    def score(self, texts: list[Any]) -> list[float | None]:
        start = time.perf_counter()
        scorable = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
        out: list[float | None] = [None] * len(texts)
        for i, value in zip(scorable, self._score([texts[i] for i in scorable]), strict=True):
            out[i] = value
        self.seconds += time.perf_counter() - start
        return out

    def _score(self, texts: list[str]) -> list[float]:
        raise NotImplementedError


_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
OFFLINE_HARM_SECTIONS = ("1.1", "1.3", "1.4", "1.5", "2.3", "4.1", "4.3", "5.3")


def _harm_words() -> frozenset[str]:
    from spp.generate.offline import LEXICON

    return frozenset(w for sid, words in LEXICON.items() if sid in OFFLINE_HARM_SECTIONS for w in words)


class OfflineHarmScorer(HarmScorer):
    """Lexicon hits per 100 words, floored, capped at 5 (see the module docstring for its limits)."""

    name = "offline"

    def __init__(self, config: HarmScoreConfig):
        super().__init__(config)
        self.words = _harm_words()

    def _window(self, words: list[str]) -> float:
        hits = sum(w in self.words for w in words)
        return float(min(5, math.floor(100 * hits / max(len(words), 20))))

    def _score(self, texts: list[str]) -> list[float]:
        n, cap = max(1, self.config.harm_max_length), self.config.harm_max_chunks
        out = []
        for text in texts:
            words = [w.lower() for w in _WORD.findall(text)] or [""]
            windows = [words[i : i + n] for i in range(0, len(words), n)]
            windows = windows[:cap] if cap > 0 else windows
            out.append(aggregate([self._window(w) for w in windows], self.config.harm_aggregation))
        return out


def label_scores(id2label: dict[int, str], spec: str | dict) -> list[float]:
    """Score of each class id, from a JSON/dict mapping label -> score or ``auto`` (the number in the label)."""
    if spec == "auto":
        scores = []
        for i in range(len(id2label)):
            found = re.findall(r"-?\d+(?:\.\d+)?", str(id2label[i]))
            if not found:
                raise SppConfigError(
                    f"label {id2label[i]!r} has no number in it",
                    field="harm_label_scores",
                    fix='give a mapping, e.g. {"safe": 0, "unsafe": 5}',
                )
            scores.append(float(found[-1]))
        return scores
    mapping = json.loads(spec) if isinstance(spec, str) else dict(spec)
    missing = [label for label in id2label.values() if label not in mapping and str(label) not in mapping]
    if missing:
        raise SppConfigError(f"no score for labels {missing}", field="harm_label_scores")
    return [float(mapping.get(id2label[i], mapping.get(str(id2label[i])))) for i in range(len(id2label))]


class TransformersHarmScorer(HarmScorer):
    """A sequence-classification model scoring token windows in batches (GPU when present)."""

    name = "transformers"

    def __init__(self, config: HarmScoreConfig):
        super().__init__(config)
        import torch

        from spp.modeling import ModelSettings, load_classifier, load_tokenizer

        settings = ModelSettings.of(config, "harm_")
        self.tokenizer = load_tokenizer(config.harm_model, settings, "harm_model")
        self.model = load_classifier(
            config.harm_model,
            settings,
            "harm_model",
            fix="give harm_model a text-classification model (…ForSequenceClassification), e.g. " + SAFELM_CLASSIFIER,
        )
        self.device = str(self.model.device)
        self.class_scores = torch.tensor(label_scores(self.model.config.id2label, config.harm_label_scores))

    @property
    def model_id(self) -> str:
        return self.config.harm_model

    def _windows(self, texts: list[str]) -> tuple[list[list[int]], list[int]]:
        enc = self.tokenizer(
            texts, truncation=True, max_length=self.config.harm_max_length, return_overflowing_tokens=True
        )
        owners = enc.get("overflow_to_sample_mapping") or list(range(len(texts)))
        cap, kept, seen = self.config.harm_max_chunks, [], {}
        for ids, owner in zip(enc["input_ids"], owners, strict=True):
            seen[owner] = seen.get(owner, 0) + 1
            if cap <= 0 or seen[owner] <= cap:
                kept.append((ids, owner))
        return [ids for ids, _ in kept], [owner for _, owner in kept]

    def _score(self, texts: list[str]) -> list[float]:
        import torch

        windows, owners = self._windows(texts)
        # Batches of similar lengths waste little compute on padding; scores go back to their documents by owner.
        order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
        windows, owners = [windows[i] for i in order], [owners[i] for i in order]
        per_doc: list[list[tuple[int, float]]] = [[] for _ in texts]
        size = max(1, self.config.harm_batch_size)
        for start in range(0, len(windows), size):
            batch = self.tokenizer.pad({"input_ids": windows[start : start + size]}, return_tensors="pt")
            with torch.inference_mode():
                logits = self.model(**{k: v.to(self.device) for k, v in batch.items()}).logits.float().cpu()
            if self.config.harm_reduction == "argmax":
                values = self.class_scores[logits.argmax(-1)]
            else:
                values = logits.softmax(-1) @ self.class_scores
            for position, owner, value in zip(
                order[start : start + size], owners[start : start + size], values.tolist(), strict=True
            ):
                per_doc[owner].append((position, value))
        # Windows back in document order, so "first" is the document's first window.
        return [aggregate([v for _, v in sorted(scores)], self.config.harm_aggregation) for scores in per_doc]


HARM_SCORERS: dict[str, str | type[HarmScorer]] = {
    "offline": OfflineHarmScorer,
    "transformers": TransformersHarmScorer,
}


def harm_scorer_names() -> list[str]:
    """What ``harm_scorer`` takes: a registered scorer or ``none``."""
    return [*HARM_SCORERS, "none"]


def register_scorer(name: str, target: str | type[HarmScorer]) -> None:
    """Register a scorer by name: a class, or ``"module:Class"`` imported on first use."""
    HARM_SCORERS[name] = target


def build_scorer(config: HarmScoreConfig) -> HarmScorer | None:
    """The configured scorer, or ``None`` for ``harm_scorer: none``."""
    if config.harm_scorer == "none":
        return None
    if config.harm_scorer not in HARM_SCORERS:
        raise SppConfigError(
            f"unknown harm scorer {config.harm_scorer!r}",
            field="harm_scorer",
            fix=f"choose one of {sorted(HARM_SCORERS)} or 'none'",
        )
    return load_target(HARM_SCORERS[config.harm_scorer])(config)


@dataclass
class HarmScoreMap:
    """A batched function for ``Dataset.map(fn, batched=True)``: adds ``column`` with each text's harm score."""

    scorer: HarmScorer
    text_column: str = "text"
    column: str = "harm_score"

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        return {self.column: self.scorer.score(batch[self.text_column])}
