"""SFT with the pretraining kernels: Liger's fused linear cross-entropy, compiled decoder layers, varlen attention.

Promises:
- ``attn_implementation: spp_varlen`` (registered in transformers' ``AttentionInterface`` when this module is
  imported, which ``spp.sft.train`` does) attends within each packed sequence only, in one variable-length call:
  sequence starts are read from the collator's ``cu_seq_lens_q``/``max_length_q`` (TRL's padding-free collator and
  ``DataCollatorWithFlattening`` send them) or, without them, from ``position_ids`` restarting at 0 and from row
  starts; padding (a 2D ``attention_mask``) is left out. On CUDA in bf16/fp16 the kernel is PyTorch's own
  ``torch.nn.attention.varlen.varlen_attn`` (Flash Attention, no extra package); elsewhere each sequence goes through
  ``scaled_dot_product_attention`` on its own, with one log line. Both give the attention of each sequence alone,
  so a padding-free packed batch has the loss of the same conversations in separate rows.
- ``SPPSFTTrainer`` is TRL's ``SFTTrainer`` plus ``liger``/``liger_kernels``/``compile_layers`` of ``SPPSFTConfig``.
  With Liger's ``fused_linear_cross_entropy`` on, the loss goes the way ``SPPTrainer``'s does: Liger patches the model's
  forward when training starts and ``transformers.Trainer.compute_loss`` takes its loss (normalised by the tokens of
  the whole accumulated batch), instead of TRL's fused LM head, which TRL keeps for its own path (TRL refuses
  Liger's fused loss in ``liger_kernel_config``). TRL's entropy and token-accuracy metrics are not computed then.
  Without CUDA or liger-kernel, ``liger: auto`` trains with TRL's own path and says so in one log line; ``liger: on``
  is refused (``SppConfigError`` naming ``liger``).
"""

from __future__ import annotations

import inspect
from typing import Any

from accelerate.logging import get_logger

from spp.errors import SppConfigError
from spp.kernels import (
    check_liger_mode,
    compile_decoder_layers,
    liger_kernel_config,
    liger_problem,
    parse_liger_kernels,
)

logger = get_logger("spp.sft")  # accelerate's: the main process logs, not every rank

VARLEN_ATTENTION = "spp_varlen"
FUSED_LOSS = "fused_linear_cross_entropy"


def sequence_starts(position_ids, batch_size: int, seq_len: int, valid=None):
    """``cu_seqlens`` (int32, from 0 to the token count) and the longest sequence, over the flattened tokens.

    A sequence starts where ``position_ids`` is 0 and at the first token of every row; ``valid`` (flat indices of
    the tokens to keep, ``None``: all) leaves padding out.
    """
    import torch

    device = position_ids.device if position_ids is not None else None
    rows = torch.arange(batch_size, device=device).repeat_interleave(seq_len)
    if position_ids is None:
        positions = torch.arange(seq_len, device=device).repeat(batch_size)
    else:
        positions = position_ids.expand(batch_size, seq_len).reshape(-1)
    if valid is not None:
        rows, positions = rows[valid], positions[valid]
    start = positions == 0
    if rows.numel():
        start[0] = True
        start[1:] |= rows[1:] != rows[:-1]
    starts = start.nonzero().flatten()
    total = torch.tensor([rows.numel()], device=starts.device)
    cu_seqlens = torch.cat([starts, total]).to(torch.int32)
    longest = int(cu_seqlens.diff().max()) if cu_seqlens.numel() > 1 else 0
    return cu_seqlens, longest


def segment_attention(query, key, value, cu_seqlens, *, causal: bool, scale: float | None):
    """Reference varlen attention: ``scaled_dot_product_attention`` on each ``cu_seqlens`` segment alone.

    ``query``/``key``/``value`` are ``(tokens, heads, head_dim)`` with as many key as query heads.
    """
    import torch
    import torch.nn.functional as F

    bounds = cu_seqlens.tolist()
    pieces = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        q, k, v = (t[a:b].transpose(0, 1).unsqueeze(0) for t in (query, key, value))
        pieces.append(F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)[0].transpose(0, 1))
    return torch.cat(pieces) if pieces else query.new_zeros(query.shape)


_varlen_call = None


def _torch_varlen():
    """PyTorch's Flash Attention varlen entry point, called with the causal flag its signature takes (the keyword
    changed between releases: ``is_causal`` in 2.10-2.11, ``window_size=(-1, 0)`` later); ``None`` if absent."""
    global _varlen_call
    if _varlen_call is None:
        try:
            from torch.nn.attention.varlen import varlen_attn
        except ImportError:
            _varlen_call = False
            return None
        params = inspect.signature(varlen_attn).parameters
        causal_kwargs = {"window_size": (-1, 0)} if "window_size" in params else {"is_causal": True}

        def call(q, k, v, cu_seqlens, max_len, scale):
            return varlen_attn(q, k, v, cu_seqlens, cu_seqlens, max_len, max_len, scale=scale, **causal_kwargs)

        _varlen_call = call
    return _varlen_call or None


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning(message)


def varlen_attention_forward(
    module,
    query,
    key,
    value,
    attention_mask,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
):
    """transformers attention function (``AttentionInterface``) for ``attn_implementation: spp_varlen``."""
    import torch

    if dropout:
        raise ValueError("spp_varlen attention has no dropout: set the model's attention_dropout to 0")
    causal = module.is_causal if is_causal is None else is_causal
    batch, heads, seq_len, head_dim = query.shape
    groups = heads // key.shape[1]
    q = query.transpose(1, 2).reshape(batch * seq_len, heads, head_dim)
    k = key.transpose(1, 2).reshape(batch * seq_len, key.shape[1], head_dim)
    v = value.transpose(1, 2).reshape(batch * seq_len, value.shape[1], head_dim)
    if groups > 1:  # grouped-query attention: every query head gets its key/value head
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    valid = None
    if attention_mask is not None:
        if attention_mask.dim() != 2:
            raise ValueError("spp_varlen attention takes a 2D padding mask (or none), not a prepared 4D mask")
        if not bool(attention_mask.all()):
            valid = attention_mask.reshape(-1).bool().nonzero().flatten()
            q, k, v = q[valid], k[valid], v[valid]
    cu_seqlens, longest = kwargs.get("cu_seq_lens_q"), kwargs.get("max_length_q")
    if cu_seqlens is None or longest is None or batch != 1 or valid is not None:
        cu_seqlens, longest = sequence_starts(kwargs.get("position_ids"), batch, seq_len, valid)
    kernel = _torch_varlen() if q.is_cuda and q.dtype in (torch.float16, torch.bfloat16) and causal else None
    if kernel is not None:
        out = kernel(q, k, v, cu_seqlens.to(device=q.device, dtype=torch.int32), longest, scaling)
    else:
        why = (
            "this torch has no torch.nn.attention.varlen"
            if _torch_varlen() is None
            else "Flash Attention varlen needs CUDA, bf16/fp16 and causal attention"
        )
        _warn_once(
            f"spp_varlen attention on {q.device.type} ({q.dtype}): {why}; each packed sequence goes through "
            "scaled_dot_product_attention on its own"
        )
        out = segment_attention(q, k, v, cu_seqlens.to(q.device), causal=causal, scale=scaling)
    if valid is not None:
        full = out.new_zeros(batch * seq_len, heads, head_dim)
        out = full.index_copy(0, valid, out)
    return out.reshape(batch, seq_len, heads, head_dim), None


def register_varlen_attention() -> None:
    """Make ``attn_implementation="spp_varlen"`` known to transformers (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, flash_attention_mask

    _torch_varlen()  # resolved here, not while torch.compile traces the attention
    AttentionInterface.register(VARLEN_ATTENTION, varlen_attention_forward)
    # the masks flash attention gets: None without padding, else the 2D padding mask (an implementation with no mask
    # function of its own gets no mask at all, so left padding would be attended to)
    AttentionMaskInterface.register(VARLEN_ATTENTION, flash_attention_mask)


def configure_sft_kernels(args) -> list[str]:
    """The Liger kernels this SFT runs (``[]``: none), from ``liger``/``liger_kernels``; see the module docstring."""
    check_liger_mode(args.liger)
    kernels = parse_liger_kernels(args.liger_kernels)
    if args.liger == "off" or not kernels:
        return []
    problem = liger_problem(args.device.type)
    if problem:
        if args.liger == "on":
            raise SppConfigError(problem, field="liger", fix="set liger: auto or off, or run on CUDA")
        _warn_once(f"{problem}; on {args.device.type} spp sft trains with TRL's own kernels and fused LM head")
        return []
    logger.info("Liger kernels in SFT: %s", ", ".join(kernels))
    return kernels


def sft_trainer_class():
    """``SPPSFTTrainer`` (built on first use, so importing this module does not import TRL)."""
    global _TRAINER
    if _TRAINER is None:
        _TRAINER = _build_trainer_class()
    return _TRAINER


_TRAINER = None


def _build_trainer_class():
    from transformers import Trainer
    from trl import SFTTrainer

    class SPPSFTTrainer(SFTTrainer):
        """``SFTTrainer`` with the pretraining kernels (see ``spp.sft.kernels``)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # set after SFTTrainer.__init__, which refuses Liger's fused loss in liger_kernel_config: this trainer
            # takes Liger's loss itself (compute_loss below); Trainer.train applies the kernels when training starts
            self.liger_kernels = configure_sft_kernels(self.args)
            if self.liger_kernels:
                self.args.use_liger_kernel = True
                self.args.liger_kernel_config = liger_kernel_config(self.liger_kernels)
            if getattr(self.args, "compile_layers", False):  # dynamic: packed batches change length every step
                logger.info("compiled %d decoder layers", compile_decoder_layers(self.model, dynamic=True))

        @property
        def fused_liger_loss(self) -> bool:
            return FUSED_LOSS in self.liger_kernels

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if not self.fused_liger_loss:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            _warn_once("Liger fused linear cross-entropy: TRL's entropy and mean_token_accuracy are not logged")
            inputs["use_cache"] = False
            return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    return SPPSFTTrainer


register_varlen_attention()
