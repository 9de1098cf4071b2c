"""Reflections made to the contract: pauses in tokens of the training tokenizer, and blocks within the budget.

``ReflectionFit`` is what ``Augmenter`` uses when it knows the training tokenizer (``training_tokenizer``):

- ``request_pause`` samples the reading pause as a token index within the document tokens an annotated document has
  in its window (``ReflectionContract.max_document_tokens``), clamped to ``[1, n-1]`` (the SPP authors' rule), and
  returns it with the character offset where that token ends. The ``end`` placement's pause is the end of that part:
  the generator reads the whole document, clipped to what training will see.
- ``fit`` measures an ``ok`` result's block in both voices with ``spp.contract.block_ids``' arithmetic, trims each
  voice at a sentence end (``over_budget: trim``) or rejects the row (``over_budget``) when it does not fit, and
  recomputes the citations of what is kept.

Without a training tokenizer pauses are sampled in characters and the budget is not measured here; packing then
counts what does not fit and stops a run past its ``max_skipped_share``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from spp.contract import OVER_BUDGET_POLICIES, ReflectionContract, encode_reflections, fit_reflection
from spp.errors import SppConfigError
from spp.generate.base import ReflectionResult
from spp.generate.validate import extract_citations
from spp.persona.render import sample_pause_index

logger = logging.getLogger("spp.data")
PLACEMENTS = ("pause", "end")


@dataclass
class ReflectionFitConfig:
    """How augmentation meets the reflection contract (the budget itself is ``ReflectionContract``'s)."""

    training_tokenizer: str = field(
        default="",
        metadata={
            "help": "The tokenizer of the model that will train on this corpus (a Hub id or local folder): pauses "
            "and the reflection budget are measured in its tokens. Empty: pauses in characters, budget not "
            "measured (packing still counts what does not fit)."
        },
    )
    over_budget: str = field(
        default="trim",
        metadata={
            "values": "spp.contract:OVER_BUDGET_POLICIES",
            "help": "A reflection over the budget: trim (at the last sentence end that fits) or reject.",
        },
    )
    placement: str = field(
        default="pause",
        metadata={
            "values": "spp.data.fit:PLACEMENTS",
            "help": "pause: reflections at a sampled reading pause (columns reflection_*). end: the spp_t0_end "
            "ablation's reflections, written from the whole (window-clipped) document, in their own end_* columns; "
            "run it on an already augmented corpus to add them beside the pause columns."
        },
    )

    def __post_init__(self) -> None:
        if self.over_budget not in OVER_BUDGET_POLICIES:
            raise SppConfigError(f"unknown policy {self.over_budget!r}", field="over_budget", fix="use trim or reject")
        if self.placement not in PLACEMENTS:
            raise SppConfigError(f"unknown placement {self.placement!r}", field="placement", fix="use pause or end")

    def build(self, contract: ReflectionContract) -> ReflectionFit | None:
        """The ``ReflectionFit`` for ``contract`` with the training tokenizer loaded, or ``None`` without one."""
        if not self.training_tokenizer:
            logger.warning(
                "no training_tokenizer: pauses are sampled in characters and reflections are not measured against "
                "the %d-token budget; pretraining will count (and past max_skipped_share refuse) what does not fit",
                contract.reflection_budget,
            )
            return None
        from spp.pretrain.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(self.training_tokenizer, contract.block_format)
        return ReflectionFit(tokenizer, contract, self.over_budget)


@dataclass(frozen=True)
class Fitted:
    """A result after ``ReflectionFit.fit``: the result, each voice's block length, which voices were trimmed."""

    result: ReflectionResult
    block_tokens: dict[str, int | None]
    trimmed: tuple[str, ...] = ()


class ReflectionFit:
    """The training tokenizer, the contract and the over-budget policy (see the module docstring)."""

    def __init__(self, tokenizer, contract: ReflectionContract, policy: str = "trim"):
        self.tokenizer, self.contract, self.policy = tokenizer, contract, policy

    def request_pause(
        self, text: str, doc_id: str, seed: int, distribution: str, min_fraction: float, placement: str
    ) -> tuple[int, int]:
        """``(character offset, token index)`` of the pause (see the module docstring)."""
        encoded = self.tokenizer(
            text, add_special_tokens=False, split_special_tokens=True, return_offsets_mapping=True
        )
        offsets = encoded["offset_mapping"]
        n = min(len(offsets), self.contract.max_document_tokens)
        if n == 0:
            return 0, 0
        index = n if placement == "end" else sample_pause_index(n, doc_id, seed, distribution, min_fraction)
        position = len(text) if index >= len(offsets) else offsets[index - 1][1]
        return position, self.prefix_tokens(text, position)

    def prefix_tokens(self, text: str, position: int) -> int:
        """Tokens of ``text[:position]`` as packing tokenizes it (the pieces either side of a pause separately)."""
        return self.prefix_token_counts([(text, position)])[0]

    def prefix_token_counts(self, pauses: list[tuple[str, int]]) -> list[int]:
        """``prefix_tokens`` of each ``(text, position)``, in one batched tokenizer call."""
        encoded = iter(encode_reflections(self.tokenizer, [text[:position] for text, position in pauses if position]))
        return [len(next(encoded)) if position else 0 for _, position in pauses]

    def fit(self, result: ReflectionResult) -> Fitted:
        """``result`` with both voices inside the budget (trimmed), or turned ``rejected`` (``over_budget:VOICE``)."""
        if result.status != "ok":
            return Fitted(result, {"1p": None, "3p": None})
        texts, lengths, trimmed = {}, {}, []
        for voice in ("1p", "3p"):
            fitted = fit_reflection(getattr(result, f"reflection_{voice}"), self.tokenizer, self.contract, self.policy)
            lengths[voice] = fitted.block_tokens
            if fitted.text is None:
                reason = f"over_budget:reflection_{voice}"
                rejected = replace(result, status="rejected", reason=reason, reflection_1p=None, reflection_3p=None)
                return Fitted(rejected, {"1p": None, "3p": None})
            texts[voice] = fitted.text
            if fitted.trimmed:
                trimmed.append(voice)
        citations = extract_citations(texts["1p"] + "\n" + texts["3p"])
        kept = replace(
            result,
            reflection_1p=texts["1p"],
            reflection_3p=texts["3p"],
            citations=citations,
            reason="trimmed:" + ",".join(trimmed) if trimmed else result.reason,
        )
        return Fitted(kept, lengths, tuple(trimmed))
