"""Claims in (possibly distributed) training runs: one process claims, every process learns the outcome."""

from __future__ import annotations

from typing import Any

from spp.errors import SppConfigError
from spp.ownership.claims import OutputClaim


def on_main_process(args: Any, fn: Any) -> Any:
    """``fn()`` on the main process of a (possibly distributed) training run, its ``SppConfigError`` raised on every
    process (so that no replica waits at a collective for a main process that stopped); returns ``fn()``'s result
    on the main process and ``None`` elsewhere. ``args`` is the run's ``TrainingArguments``."""
    if getattr(args, "world_size", 1) <= 1:
        return fn()
    import torch.distributed as dist

    result, error = None, [None]
    if args.process_index == 0:
        try:
            result = fn()
        except SppConfigError as err:
            error = [str(err)]
    dist.broadcast_object_list(error, src=0)
    if error[0] is not None:
        raise SppConfigError(error[0].rstrip("."))
    return result


def recording_callback(claim: OutputClaim | None):
    """A ``TrainerCallback`` that records ``claim``'s manifest after every save (``None``: no callback)."""
    if claim is None:
        return None
    from transformers import TrainerCallback

    class RecordOutputs(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                claim.record()

    return RecordOutputs()
