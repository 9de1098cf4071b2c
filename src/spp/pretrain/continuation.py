"""Continuing another run's window stream (``init_continue_stream``): a run that starts from a checkpoint spp trained
(``init_from`` at ``init_step``) on the same corpus and data view reads that run's window stream from where the
checkpoint left it, instead of from the corpus' first window (e.g. spp_mt as a baseline checkpoint plus its
midtraining phase: every window before it is the baseline's, trained once).

Promises:
- Only a checkpoint whose ``spp.json`` records its data view (``details.data_view``, written by ``spp pretrain``) can
  be continued; an external model (a released base) has no recorded stream and is refused (``SppConfigError``).
- Every field that shapes the window stream up to the continuation point equals the checkpoint's (``STREAM_FIELDS``
  and the rows the arm drops); else ``SppConfigError`` naming each differing field with both values, before the
  corpus is tokenized. The arm may differ (spp_mt from a baseline) when it drops the same rows.
- The continuation starts at global window ``init_step x windows_per_step``. Where the checkpoint records its own
  step (``trainer_state.json`` of a ``checkpoint-N`` folder, ``details.step``/``final_step`` of an exported ref), its
  stream position must be that window, else ``SppConfigError`` naming both.
- A checkpoint whose own stream was reflection-enriched (``midtraining_annotated_share``) before that window is
  refused: its windows there are not the plain stream's.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from spp.errors import SppConfigError

logger = logging.getLogger("spp.pretrain")

# The data-view fields (``spp.pretrain.builder.view_fields_of``) that shape the window stream before any reflection
# goes in: equal in a run and the checkpoint whose stream it continues.
STREAM_FIELDS = (
    "corpus",
    "tokenizer",
    "seq_len",
    "reflection_budget",
    "layout",
    "plain_fill",
    "voice",
    "shuffle_documents",
    "shuffle_buffer",
    "data_seed",
    "heldout_documents",
    "windows_per_step",
)
DROP = "rows dropped"
FIX = (
    "set these fields to init_from's values (its spp.json, details.data_view), or drop init_continue_stream (the "
    "run then reads the corpus from its first window)"
)


@dataclass(frozen=True)
class Continuation:
    """Where a run continues its parent's stream: optimizer step ``step`` of that stream, global window ``window``."""

    step: int
    window: int
    parent_arm: str | None
    parent_data_view_hash: str | None

    def record(self, midtraining_start_tokens: int | None) -> dict[str, Any]:
        """``spp.json``'s ``lineage.continued_stream``."""
        return {
            "from_step": self.step,
            "from_window": self.window,
            "parent_arm": self.parent_arm,
            "parent_data_view_hash": self.parent_data_view_hash,
            "midtraining_start_tokens": midtraining_start_tokens,
        }


def continued_step(model) -> int:
    """The stream step a run continues from: ``init_step`` with ``init_continue_stream``, else 0 (its own stream)."""
    if not model.init_continue_stream:
        return 0
    if not model.init_from:
        raise SppConfigError(
            "init_continue_stream continues init_from's data stream, but init_from is not set",
            field="init_continue_stream",
            fix="set init_from to a checkpoint spp trained (a checkpoint-N folder, an export's step-* ref), or drop "
            "init_continue_stream",
        )
    if model.init_step < 1:
        raise SppConfigError(
            f"init_continue_stream continues init_from's stream at init_step x windows_per_step, but init_step is "
            f"{model.init_step}",
            field="init_step",
            fix="set init_step to the checkpoint's step (N of its checkpoint-N folder or step-* ref)",
        )
    return model.init_step


def _drops(arm_name: str | None, harm_threshold: Any) -> str:
    from spp.pretrain.arms import ARMS

    arm = ARMS.get(str(arm_name))
    if arm is None:
        return f"unknown (arm {arm_name!r} is not registered here)"
    return f"harm_score >= {harm_threshold:g}" if arm.filter_harm else "none"


def _recorded_step(source) -> int | None:
    """The checkpoint's step in its own run, where it records one."""
    state = source.path / "trainer_state.json"
    if state.is_file():
        return int(json.loads(state.read_text()).get("global_step", 0)) or None
    details = source.meta.details
    step = details.get("step", details.get("final_step"))
    return int(step) if step is not None else None


def check_continuation(source, fields: dict[str, Any], arm: str, step: int, where: str) -> Continuation:
    """The ``Continuation`` of a run with data-view ``fields`` and ``arm`` from ``source`` (the pinned ``init_from``,
    ``spp.modeling.source.ModelSource``) at ``step``; ``SppConfigError`` where its stream cannot be continued."""
    meta = source.meta
    parent = (meta.details.get("data_view") if meta is not None else None) or {}
    if not parent:
        raise SppConfigError(
            f"init_continue_stream continues the data stream of a checkpoint spp trained, but {where} "
            + ("has no spp.json (an external model)" if meta is None else "records no data view in its spp.json")
            + ": its stream is unknown",
            field="init_continue_stream",
            fix="drop init_continue_stream (the run then reads the corpus from its first window; set "
            "midtraining_start_tokens for where its midtraining starts), or continue a checkpoint of an spp run",
        )
    differ = [(name, parent.get(name), fields.get(name)) for name in STREAM_FIELDS if parent.get(name) != fields[name]]
    theirs, mine = _drops(meta.arm, parent.get("harm_threshold")), _drops(arm, fields["harm_threshold"])
    if theirs != mine:
        differ.append((DROP, f"{theirs} (arm {meta.arm})", f"{mine} (arm {arm})"))
    if differ:
        listing = "; ".join(f"{name}: {a!r} in init_from, {b!r} here" for name, a, b in differ)
        raise SppConfigError(
            f"init_continue_stream: {where} was trained on another window stream than this run's ({listing})",
            field=differ[0][0] if differ[0][0] != DROP else "arm",
            fix=FIX,
        )
    window = step * int(fields["windows_per_step"])
    start = int(parent.get("stream_start_window") or 0)
    recorded = _recorded_step(source)
    at = start + recorded * int(fields["windows_per_step"]) if recorded is not None else None
    if (at is not None and at != window) or window < start:
        raise SppConfigError(
            f"init_step {step} continues the stream at window {window}, but {where} is "
            + (f"step {recorded} of a run whose stream started at window {start}, i.e. window {at}" if at is not None
               else f"from a run whose stream started at window {start}"),
            field="init_step",
            fix=f"set init_step to {at // int(fields['windows_per_step'])}" if at is not None else FIX,
        )  # fmt: skip
    share = parent.get("midtraining_annotated_share")
    enriched_from = -(-int(parent.get("midtraining_start_tokens") or 0) // int(fields["seq_len"]))
    if share is not None and enriched_from < window:
        raise SppConfigError(
            f"{where}'s stream is reflection-enriched from window {enriched_from} (midtraining_annotated_share "
            f"{share}): its windows at {window} are not the plain stream's",
            field="init_continue_stream",
            fix="continue a checkpoint from before its midtraining start, or resume that run itself "
            "(--resume_from_checkpoint)",
        )
    if recorded is None:
        logger.info("%s records no step: continuing its stream at window %d (init_step %d)", where, window, step)
    return Continuation(step, window, meta.arm, meta.details.get("data_view_hash"))
