"""Training metrics as callbacks: throughput/MFU, the injection schedule, held-out reflection vs document loss.

Each callback computes its metrics at the steps where the trainer logs and hands them over with ``pop_metrics()``;
``SPPTrainer.log`` merges them into the logged record, so every reporter (console, TensorBoard, W&B) sees them.
"""

from __future__ import annotations

import math
import time

import torch
from transformers import TrainerCallback

from spp.pretrain.documents import DOCUMENT, REFLECTION
from spp.pretrain.packing import Window


def flops_per_token(num_parameters: int, num_layers: int, hidden_size: int, seq_len: int) -> float:
    """Training FLOPs per token: ``6N + 12 * L * h * S`` (weights plus attention; PaLM appendix B)."""
    return 6 * num_parameters + 12 * num_layers * hidden_size * seq_len


class MetricsCallback(TrainerCallback):
    """A callback whose metrics ``SPPTrainer.log`` merges into the next log record."""

    def __init__(self) -> None:
        self._pending: dict[str, float] = {}

    def pop_metrics(self) -> dict[str, float]:
        pending, self._pending = self._pending, {}
        return pending


class ThroughputCallback(MetricsCallback):
    """Logs ``tokens_seen`` (global), ``tokens_per_second_per_gpu``, ``mfu`` and, on CUDA, ``peak_memory_gib``.

    Rates cover the steps since the previous log (the first interval includes warm-up and compilation).
    """

    def __init__(self, tokens_per_step: int, world_size: int, flops_per_token: float, peak_tflops: float):
        super().__init__()
        self.tokens_per_step, self.world_size = tokens_per_step, world_size
        self.flops_per_token, self.peak_flops = flops_per_token, peak_tflops * 1e12
        self._mark: tuple[float, int] | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._mark = (time.perf_counter(), state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if not control.should_log or self._mark is None:
            return
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        now, step = time.perf_counter(), state.global_step
        start, first = self._mark
        self._mark = (now, step)
        rate = (step - first) * self.tokens_per_step / self.world_size / max(now - start, 1e-9)
        self._pending.update(
            tokens_seen=step * self.tokens_per_step,
            tokens_per_second_per_gpu=round(rate, 1),
            mfu=round(rate * self.flops_per_token / self.peak_flops, 4),
        )
        if torch.cuda.is_available():
            self._pending["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)


class ScheduleCallback(MetricsCallback):
    """Logs the injection schedule's state at the tokens consumed: ``reflection_fraction`` and ``midtraining``, at
    the stream position (``start_tokens``: where a run that continues another's stream starts in it)."""

    def __init__(self, schedule, tokens_per_step: int, start_tokens: int = 0):
        super().__init__()
        self.schedule, self.tokens_per_step, self.start_tokens = schedule, tokens_per_step, start_tokens

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_log:
            tokens = self.start_tokens + state.global_step * self.tokens_per_step
            self._pending.update(
                reflection_fraction=self.schedule.active_fraction(tokens),
                midtraining=float(self.schedule.phase(tokens) == "midtraining"),
            )


def kind_losses(model, windows: list[Window], device, autocast_dtype=None, batch_size: int = 1) -> dict[str, float]:
    """Mean next-token loss on reflection targets and on document targets over ``windows`` (padding excluded)."""
    sums = {REFLECTION: 0.0, DOCUMENT: 0.0}
    counts = {REFLECTION: 0, DOCUMENT: 0}
    for i in range(0, len(windows), batch_size):
        chunk = windows[i : i + batch_size]
        ids = torch.tensor([w.input_ids for w in chunk], device=device)
        kinds = torch.tensor([w.kinds for w in chunk], device=device)[:, 1:]
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            logits = model(input_ids=ids[:, :-1]).logits
        losses = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), ids[:, 1:], reduction="none")
        for kind in sums:
            sums[kind] += losses[kinds == kind].sum().item()
            counts[kind] += int((kinds == kind).sum())
    mean = {k: sums[k] / counts[k] if counts[k] else math.nan for k in sums}
    return {
        "heldout_reflection_loss": mean[REFLECTION],
        "heldout_document_loss": mean[DOCUMENT],
        "heldout_reflection_tokens": counts[REFLECTION],
    }


class ReflectionLossCallback(MetricsCallback):
    """Every ``eval_steps`` steps, the loss on held-out reflection tokens vs document tokens (logged at that step).

    Runs on every rank (sharded models need all ranks in the forward); only the main process logs.
    """

    def __init__(self, windows: list[Window], eval_steps: int):
        super().__init__()
        self.windows, self.eval_steps = windows, max(eval_steps, 1)

    def _measure(self, args, model) -> None:
        was_training = model.training
        model.eval()
        dtype = torch.bfloat16 if args.bf16 else torch.float16 if args.fp16 else None
        with torch.no_grad():
            self._pending.update(kind_losses(model, self.windows, args.device, dtype, args.per_device_eval_batch_size))
        model.train(was_training)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.windows and model is not None and state.global_step % self.eval_steps == 0:
            self._measure(args, model)
            control.should_log = True


class PackingCallback(MetricsCallback):
    """Counts the reflection blocks in the windows trained on and those packing skipped, logged at every logging
    step (``reflections_packed``, ``reflections_skipped``, summed over ranks) and written into ``metadata``
    (``details.packing``) when training ends."""

    def __init__(self, metadata=None):
        super().__init__()
        self.metadata = metadata
        self.totals = torch.zeros(2, dtype=torch.long)

    def add(self, counts: torch.Tensor) -> None:
        self.totals += counts.detach().to("cpu").reshape(-1, 2).sum(dim=0)

    def _global(self) -> list[int]:
        totals = self.totals.clone()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            device = "cuda" if torch.cuda.is_available() else "cpu"
            totals = totals.to(device)
            torch.distributed.all_reduce(totals)
        return [int(x) for x in totals.cpu()]

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_log:
            packed, skipped = self._global()
            self._pending.update(reflections_packed=packed, reflections_skipped=skipped)

    def on_train_end(self, args, state, control, **kwargs):
        if self.metadata is not None:
            packed, skipped = self._global()
            trained = self.metadata.details.setdefault("packing", {})
            trained["trained_windows"] = {"reflections_packed": packed, "reflections_skipped": skipped}


class CheckpointMetadataCallback(TrainerCallback):
    """Writes the run's ``spp.json`` into every checkpoint folder, so a checkpoint says which arm and data view
    wrote it (``check_resume_identity`` reads it back)."""

    def __init__(self, metadata):
        self.metadata = metadata

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            from pathlib import Path

            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                self.metadata.save(folder)
