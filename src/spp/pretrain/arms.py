"""Arms: named views of the one augmented corpus.

A view decides, per document, whether its row is kept (``filtered`` drops rows at or over the harm threshold),
whether its reflection block goes in at its recorded pause (or at the end, for the placement ablation), by the
injection schedule, and which tokens carry the next-token loss (``loss_on``). It never reorders: every arm with the
same data-view fields sees the documents in the same order (an enriched midtraining stream,
``midtraining_annotated_share``, is a data-view field and reorders every arm that sets it alike).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from spp.errors import SppConfigError
from spp.pretrain.schedule import InjectionSchedule

Placement = Literal["pause", "end"]
PLACEMENTS = ("pause", "end")
LOSS_ON = ("all", "reflection", "no_harmful_context")


@dataclass(frozen=True)
class Arm:
    """What an arm changes: harm filtering, reflections per training phase, where a reflection goes, and whether its
    midtraining phase reads the reflection-enriched stream (``midtraining_annotated_share``, a data-view field)."""

    name: str
    help: str
    filter_harm: bool = False
    reflect_in_pretraining: bool = False
    reflect_in_midtraining: bool = False
    placement: Placement = "pause"
    enriched_midtraining: bool = False


ARMS: dict[str, Arm] = {}


def register_arm(arm: Arm) -> Arm:
    ARMS[arm.name] = arm
    return arm


register_arm(Arm("baseline", "the corpus as is; reflections ignored"))
register_arm(Arm("filtered", "no reflections; rows with harm_score >= harm_threshold removed", filter_harm=True))
register_arm(
    Arm(
        "spp_t0",
        "reflections from the first training token to the last, in every phase",
        reflect_in_pretraining=True,
        reflect_in_midtraining=True,
    )
)
register_arm(
    Arm(
        "spp_mt",
        "reflections only from the midtraining start (default: the LR decay) to the end",
        reflect_in_midtraining=True,
    )
)
register_arm(
    Arm(
        "spp_t0_end",
        "ablation: as spp_t0, each reflection at the end of its document, written from the whole document "
        "(the end_* columns of spp augment --placement end)",
        reflect_in_pretraining=True,
        reflect_in_midtraining=True,
        placement="end",
    )
)
register_arm(
    Arm(
        "spp_t0_mt",
        "reflections from token zero to the end, and a midtraining phase on the reflection-enriched stream "
        "(midtraining_annotated_share of its documents annotated; the released t0-mt arm)",
        reflect_in_pretraining=True,
        reflect_in_midtraining=True,
        enriched_midtraining=True,
    )
)
# Arms that were renamed or removed: the name a recipe should use now.
RENAMED_ARMS: dict[str, str] = {}


def get_arm(name: str) -> Arm:
    if name in RENAMED_ARMS:
        raise SppConfigError(f"the arm {name!r} no longer exists", field="arm", fix=f"use {RENAMED_ARMS[name]}")
    if name not in ARMS:
        raise SppConfigError(f"unknown arm {name!r}", field="arm", fix=f"choose one of {', '.join(sorted(ARMS))}")
    return ARMS[name]


@dataclass(frozen=True)
class ArmView:
    """An arm applied to tokenized documents (``spp.pretrain.documents.Document``)."""

    arm: Arm
    schedule: InjectionSchedule
    harm_threshold: float = 3.0
    loss_on: str = "all"

    @property
    def name(self) -> str:
        return self.arm.name

    @property
    def has_reflections(self) -> bool:
        """Whether the arm puts reflections in at any point of training."""
        return self.arm.reflect_in_pretraining or self.arm.reflect_in_midtraining

    @property
    def drops_as(self) -> str | None:
        """The reason given for every row this arm drops (``None``: it drops none)."""
        return f"harm_score >= {self.harm_threshold:g}" if self.arm.filter_harm else None

    def drop_reason(self, doc) -> str | None:
        """``None`` keeps the row; otherwise the reason it is dropped."""
        return None if self.keeps(doc.harm_score) else self.drops_as

    def keeps(self, harm_score: float | None) -> bool:
        """Whether a row with this harm score is in the arm (the only column the choice depends on)."""
        return not (self.arm.filter_harm and harm_score is not None and harm_score >= self.harm_threshold)

    def keeps_scores(self, harm_scores):
        """``keeps`` over a float array of harm scores (NaN = no score), as a boolean array."""
        import numpy as np

        scores = np.asarray(harm_scores, dtype=np.float64)
        if not self.arm.filter_harm:
            return np.ones(scores.shape, dtype=bool)
        return ~(scores >= self.harm_threshold)  # NaN compares False: unscored rows are kept, as in ``keeps``

    def is_harmful(self, harm_score: float | None) -> bool:
        """Whether a document with this score is at or over the harm threshold (unscored: no)."""
        return harm_score is not None and harm_score >= self.harm_threshold

    def placed(self, doc) -> tuple[int | None, list[int] | None]:
        """``(pause, block)`` of ``doc`` in this arm's placement: document tokens before the block, and the block;
        ``(None, None)`` when the document has no reflection there."""
        if self.arm.placement == "end":
            return doc.end_pause, doc.end_block
        return doc.pause, doc.block

    def reflects(self, doc, tokens: int) -> bool:
        """Whether ``doc`` carries its reflection when it lands at ``tokens`` consumed."""
        return self.placed(doc)[1] is not None and self.schedule.reflects(doc.id, tokens)


def make_view(
    arm: str | Arm,
    *,
    harm_threshold: float = 3.0,
    start_tokens: int = 0,
    ramp_tokens: int = 0,
    midtraining_start_tokens: int | None = None,
    placement: Placement | None = None,
    seed: int = 0,
    loss_on: str = "all",
) -> ArmView:
    """The view of arm ``arm`` under the given schedule; ``placement`` overrides the arm's; ``loss_on`` says which
    tokens carry the next-token loss (``all`` but padding, the reflection blocks only, or all but the document
    tokens of documents at or over ``harm_threshold``)."""
    arm = get_arm(arm) if isinstance(arm, str) else arm
    if loss_on not in LOSS_ON:
        raise SppConfigError(f"unknown loss_on {loss_on!r}", field="loss_on", fix=f"use one of {', '.join(LOSS_ON)}")
    if placement is not None:
        if placement not in PLACEMENTS:
            raise SppConfigError(f"unknown placement {placement!r}", field="placement", fix="use pause or end")
        arm = replace(arm, placement=placement)
    if arm.reflect_in_midtraining and not arm.reflect_in_pretraining and midtraining_start_tokens is None:
        raise SppConfigError(
            f"arm {arm.name!r} puts reflections in midtraining but no midtraining start is configured",
            field="midtraining_fraction",
            fix="set midtraining_fraction, midtraining_start_tokens, or a warmup_stable_decay schedule",
        )
    schedule = InjectionSchedule(
        pretraining=arm.reflect_in_pretraining,
        midtraining=arm.reflect_in_midtraining,
        start_tokens=start_tokens,
        ramp_tokens=ramp_tokens,
        midtraining_start_tokens=midtraining_start_tokens,
        seed=seed,
    )
    return ArmView(arm, schedule, harm_threshold, loss_on)
