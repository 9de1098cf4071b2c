"""Global batch arithmetic shared by pretraining and SFT recipes."""

from __future__ import annotations

from spp.errors import SppConfigError


def accumulation_steps(global_batch: int, per_device: int, world_size: int, field: str) -> int:
    """Gradient accumulation steps that make ``per_device x world_size x steps == global_batch`` exactly.

    A recipe that names its global batch then means the same optimizer steps on any number of GPUs.
    """
    per_step = per_device * world_size
    if global_batch <= 0 or global_batch % per_step:
        raise SppConfigError(
            f"{field} {global_batch} is not a positive multiple of per_device_train_batch_size x processes "
            f"({per_device} x {world_size})",
            field=field,
            fix="change per_device_train_batch_size or the number of processes",
        )
    return global_batch // per_step
