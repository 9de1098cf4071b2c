"""Checks a run makes before step 0: reflections that packing could not insert, and data for every step.

Promises:
- ``audit_stream`` counts, over the training documents of an arm, the blocks in the arm's placement and those that
  packing would skip, by reason (``PackingStats`` reasons), and the windows the stream holds. With the token cache
  it reads the window index and token counts only; otherwise it tokenizes the documents once (at most ``max_rows``
  of them; more and it says it sampled).
- ``check_audit`` stops the run (``SppConfigError``, exit 2) when the skipped share passes ``max_skipped_share``, or
  when the stream has fewer windows than ``max_steps`` needs, naming the counts and the fix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from spp.errors import SppConfigError
from spp.pretrain.layout import Layout
from spp.pretrain.window_index import layout_windows

logger = logging.getLogger("spp.pretrain")


@dataclass
class StreamAudit:
    """What ``audit_stream`` found. ``windows``/``document_tokens`` are ``None`` when it could not count them all."""

    blocks: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    documents: int = 0
    windows: int | None = None
    document_tokens: int | None = None
    sampled: bool = False
    midtraining: dict | None = None

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    @property
    def skipped_share(self) -> float:
        return self.skipped_total / self.blocks if self.blocks else 0.0

    def to_dict(self) -> dict:
        return {
            "blocks": self.blocks,
            "skipped": dict(self.skipped),
            "skipped_share": round(self.skipped_share, 6),
            "documents": self.documents,
            "windows": self.windows,
            "sampled": self.sampled,
        } | ({"midtraining": self.midtraining} if self.midtraining else {})


def audit_stream(arm, max_rows: int = 200_000) -> StreamAudit:
    """Audit the ``PackedArm`` ``arm`` (from window 0) before training; see the module docstring."""
    from spp.pretrain.data import DocumentStream

    documents, layout = arm.documents, arm.layout
    if isinstance(documents, DocumentStream) and documents.seekable:
        counts = documents.block_audit(arm.view.arm.placement, layout.max_document_tokens, layout.budget)
        meta = arm.window_index().meta
        return StreamAudit(
            blocks=counts.pop("blocks"),
            skipped={k: v for k, v in counts.items() if v},
            documents=meta["documents"],
            windows=meta["windows"],
            document_tokens=meta["document_tokens"],
            midtraining=meta.get("midtraining"),
        )
    return _audit_by_reading(arm, layout, max_rows)


def _audit_by_reading(arm, layout: Layout, max_rows: int) -> StreamAudit:
    audit = StreamAudit(skipped={})
    tokens, annotated, reserve = [], [], []
    for i, doc in enumerate(arm.documents):
        if i >= max_rows:
            audit.sampled = True
            break
        kept = arm.view.drop_reason(doc) is None
        tokens.append(len(doc.ids) + 1 if kept else 0)
        annotated.append(doc.annotated)
        reserve.append(doc.reserve)
        pause, block = arm.view.placed(doc)
        if not kept or block is None:
            continue
        audit.blocks += 1
        reason = layout.skip_reason(pause, len(block))
        if reason:
            audit.skipped[reason] = audit.skipped.get(reason, 0) + 1
    audit.documents = sum(t > 0 for t in tokens)
    if not audit.sampled:
        audit.windows = len(layout_windows(np.asarray(tokens), np.asarray(annotated), np.asarray(reserve), layout).start)
        audit.document_tokens = int(sum(tokens))
    return audit


def check_audit(
    audit: StreamAudit,
    *,
    arm_name: str,
    has_reflections: bool,
    max_skipped_share: float,
    windows_needed: int,
    budget: int,
) -> None:
    """Raise ``SppConfigError`` when the audit shows silent loss or too little data (see the module docstring)."""
    if has_reflections and audit.documents and not audit.blocks:
        raise SppConfigError(
            f"arm {arm_name!r} puts reflections in, but the corpus has none in its placement: it would train as the "
            "baseline",
            field="dataset_path",
            fix="for spp_t0_end, add the end placement's columns with `spp augment --placement end --dataset "
            "CORPUS`; otherwise check that the corpus is an spp augment output with ok reflections",
        )
    if has_reflections and audit.blocks and audit.skipped_share > max_skipped_share:
        reasons = ", ".join(f"{n:,} {reason}" for reason, n in sorted(audit.skipped.items()))
        raise SppConfigError(
            f"packing would skip {audit.skipped_total:,} of {audit.blocks:,} reflections of arm {arm_name!r} "
            f"({audit.skipped_share:.2%}, over max_skipped_share {max_skipped_share:.2%}): {reasons}; "
            f"reflection_budget is {budget} tokens",
            field="reflection_budget",
            fix="re-run spp augment with this training tokenizer and reflection_budget (it trims or rejects "
            "reflections over the budget and samples pauses inside the window), or raise reflection_budget",
        )
    if audit.windows is not None and audit.windows < windows_needed:
        lacking = windows_needed - audit.windows
        mid = audit.midtraining
        if mid and mid["ended_by"] == "annotated documents":
            raise SppConfigError(
                f"arm {arm_name!r}'s enriched midtraining stream runs out of annotated documents after "
                f"{mid['documents']:,} documents ({mid['annotated']:,} annotated, {mid['repeats']:,} repeats, "
                f"{mid['plain_unused']:,} plain documents left unused): {audit.windows:,} windows, but max_steps "
                f"needs {windows_needed:,} ({lacking:,} short)",
                field="midtraining_max_repeats",
                fix="raise midtraining_max_repeats (repeats of an annotated document), lower "
                "midtraining_annotated_share, or lower max_steps",
            )
        raise SppConfigError(
            f"arm {arm_name!r} has {audit.windows:,} windows of training data but max_steps needs "
            f"{windows_needed:,}: {lacking:,} windows short",
            field="max_steps",
            fix="lower max_steps, or give the arm a larger corpus (the filtered arm removes rows: compare its "
            "document tokens with the baseline's)",
        )
    if audit.windows is None:
        logger.warning(
            "could not count the windows of arm %r before training (streamed or sampled corpus): a run that "
            "outlasts its data stops early; build a token cache (token_cache_dir) for an exact check",
            arm_name,
        )
