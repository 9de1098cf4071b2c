"""Training kernels that pretraining and SFT share: which Liger kernels can run here, and compiled decoder layers.

Promises:
- ``liger_problem(device_type)`` is ``None`` where Liger's Triton kernels can run (CUDA, liger-kernel installed), else
  the one reason they cannot; each stage turns it into a log line (``auto``) or a refusal naming its field (``on``).
- ``parse_liger_kernels`` reads a comma-separated kernel list, refusing unknown names (``SppConfigError``).
- ``liger_kernel_config`` is the ``TrainingArguments.liger_kernel_config`` that turns on exactly those kernels (and
  never Liger's non-fused cross-entropy, which would materialise the logits the fused one avoids).
- ``compile_decoder_layers`` compiles each decoder layer in place and leaves the LM head and loss eager, so Liger's
  fused linear cross-entropy runs outside the compiled graphs (whole-model ``torch.compile`` breaks on it,
  PERF_NOTES.md).
"""

from __future__ import annotations

import importlib.util

from spp.errors import SppConfigError

LIGER_KERNELS = ("rope", "rms_norm", "swiglu", "fused_linear_cross_entropy")
LIGER_MODES = ("auto", "on", "off")


def liger_problem(device_type: str) -> str | None:
    """Why Liger's kernels cannot run on ``device_type`` here (``None``: they can)."""
    if device_type != "cuda":
        return "Liger kernels need CUDA"
    if importlib.util.find_spec("liger_kernel") is None:
        return "liger-kernel is not installed (pip install 'spp[liger]')"
    return None


def check_liger_mode(mode: str, field: str = "liger") -> None:
    if mode not in LIGER_MODES:
        raise SppConfigError(f"{field} must be auto, on or off, not {mode!r}", field=field)


def parse_liger_kernels(text: str, field: str = "liger_kernels") -> list[str]:
    """The kernels named in ``text`` (comma-separated), in order; an unknown name is ``SppConfigError``."""
    kernels = [k.strip() for k in text.split(",") if k.strip()]
    unknown = set(kernels) - set(LIGER_KERNELS)
    if unknown:
        raise SppConfigError(f"unknown Liger kernels {sorted(unknown)}", field=field, fix=f"use {LIGER_KERNELS}")
    return kernels


def liger_kernel_config(kernels: list[str]) -> dict[str, bool]:
    """``liger_kernel_config`` turning on exactly ``kernels`` (Liger's own defaults would turn on the others)."""
    return {k: k in kernels for k in LIGER_KERNELS} | {"cross_entropy": False}


def decoder_layers(model):
    """The decoder layers of a causal LM (through a PEFT wrapper too)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder().layers


def compile_decoder_layers(model, dynamic: bool | None = None) -> int:
    """``torch.compile`` each decoder layer in place (the loss stays eager for Liger's fused CE); returns the count.

    ``dynamic=True`` compiles for any sequence length at once (SFT's padding-free batches change length every step);
    ``None`` is torch's default (static shapes first, recompiled dynamic when a shape changes)."""
    layers = decoder_layers(model)
    for layer in layers:
        layer.compile(dynamic=dynamic)
    return len(layers)
