"""FP8 training of the decoder layers with torchao's float8 training (``fp8: true``; off by default).

Promises:
- ``fp8_problem(device)`` is ``None`` only on a CUDA GPU of compute capability 8.9 or more (H100, H200, L40S, B200,
  RTX 4090) with torchao installed; otherwise the one reason float8 training cannot run there.
- ``check_fp8(args)`` raises ``SppConfigError`` naming ``fp8`` with that reason and the fix. ``SPPTrainingArguments``
  calls it when the recipe is parsed, so ``spp pretrain`` exits 2 before it reads a corpus or builds a model; there is
  no silent fallback to bf16 (a run that asked for FP8 and trained in bf16 would be another run).
- ``convert_decoder_to_fp8(model, recipe)`` swaps every ``nn.Linear`` inside the decoder layers whose dimensions are
  multiples of 16 (a float8 matmul requirement) for torchao's ``Float8Linear`` (``convert_to_float8_training``) and
  returns how many it swapped. The embeddings and the LM head (tied to them; Liger's fused loss reads its weight) stay
  in high precision; weights stay float32 master weights, cast to float8 per matmul with dynamic scales. Call it
  before ``compile_decoder_layers`` so inductor fuses the casts into each layer's graph (torchao's recommended use).
- ``emulate=True`` (torchao's emulation: the same module swap, matmuls in high precision) runs on any device; it is
  for tests of the conversion, not for speed.
"""

from __future__ import annotations

import dataclasses
import logging

from spp.errors import SppConfigError
from spp.kernels import decoder_layers

logger = logging.getLogger("spp.pretrain")

FP8_RECIPES = ("tensorwise", "rowwise", "rowwise_with_gw_hp")  # torchao's Float8LinearRecipeName values
MIN_CAPABILITY = (8, 9)
FP8_FIX = "set fp8: false, or run on an H100/H200-class GPU (compute capability >= 8.9) with pip install 'spp[fp8]'"


def fp8_problem(device) -> str | None:
    """Why float8 training cannot run on ``device`` (a ``torch.device``) here; ``None`` when it can."""
    import importlib.util

    import torch

    if device.type != "cuda":
        return f"float8 training needs a CUDA GPU of compute capability >= 8.9, and this run is on {device.type}"
    capability = torch.cuda.get_device_capability(device)
    if tuple(capability) < MIN_CAPABILITY:
        name = torch.cuda.get_device_name(device)
        return f"float8 training needs compute capability >= 8.9; {name} has {capability[0]}.{capability[1]}"
    if importlib.util.find_spec("torchao") is None:
        return "float8 training needs torchao, which is not installed"
    return None


def check_fp8(args) -> None:
    """Refuse ``fp8: true`` (``SppConfigError`` naming the field) where float8 training cannot run."""
    if args.fp8_recipe not in FP8_RECIPES:
        raise SppConfigError(f"unknown float8 recipe {args.fp8_recipe!r}", field="fp8_recipe", fix=f"use {FP8_RECIPES}")
    if not args.fp8:
        return
    problem = fp8_problem(args.device)
    if problem:
        raise SppConfigError(problem, field="fp8", fix=FP8_FIX)
    if not args.compile_layers:
        logger.warning("fp8 without compile_layers: the float8 casts run unfused, usually slower than bf16")


def _fits_float8(module, fqn: str) -> bool:
    import torch

    return isinstance(module, torch.nn.Linear) and module.in_features % 16 == 0 and module.out_features % 16 == 0


def convert_decoder_to_fp8(model, recipe: str = "tensorwise", *, emulate: bool = False) -> int:
    """Swap the decoder layers' linear layers for torchao ``Float8Linear``; returns how many were swapped."""
    from torchao.float8 import Float8LinearConfig, convert_to_float8_training
    from torchao.float8.float8_linear import Float8Linear

    config = Float8LinearConfig.from_recipe_name(recipe)
    if emulate:
        config = dataclasses.replace(config, emulate=True)
    swapped = 0
    for layer in decoder_layers(model):
        convert_to_float8_training(layer, module_filter_fn=_fits_float8, config=config)
        swapped += sum(isinstance(m, Float8Linear) for m in layer.modules())
    return swapped
