"""SFT kernels on CUDA: PyTorch's Flash Attention varlen against per-sequence attention, and the SFT benchmark with
Liger's fused loss, compiled layers and spp_varlen against TRL's own path (skipped without CUDA)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from spp.sft import kernels

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]
BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "sft_throughput.py"


def test_flash_varlen_matches_per_sequence_attention_forward_and_backward():
    varlen = kernels._torch_varlen()
    assert varlen is not None, "torch.nn.attention.varlen.varlen_attn is missing from this torch"
    lengths = [37, 200, 5, 64, 130]
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device="cuda")
    generator = torch.Generator(device="cuda").manual_seed(0)
    shape = (sum(lengths), 4, 64)
    q, k, v = (torch.randn(shape, device="cuda", dtype=torch.bfloat16, generator=generator) for _ in range(3))
    grads = []
    for fn in (lambda a, b, c: varlen(a, b, c, cu, max(lengths), None),
               lambda a, b, c: kernels.segment_attention(a, b, c, cu, causal=True, scale=None)):  # fmt: skip
        leaves = [t.detach().clone().requires_grad_() for t in (q, k, v)]
        out = fn(*leaves)
        out.float().square().sum().backward()
        grads.append((out.detach(), *(t.grad for t in leaves)))
    for flash, reference in zip(grads[0], grads[1], strict=True):
        torch.testing.assert_close(flash.float(), reference.float(), atol=3e-2, rtol=3e-2)


def test_sft_benchmark_with_kernels_trains_like_trls_path():
    spec = importlib.util.spec_from_file_location("sft_throughput", BENCHMARK)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    common = ["--model", "tiny", "--steps", "6", "--warmup", "2", "--conversations", "96", "--seq-len", "512",
              "--micro-batch", "2", "--no-gradient-checkpointing"]  # fmt: skip
    fast = bench.run(bench.parse([*common, "--kernels"]))
    plain = bench.run(bench.parse(common))
    assert fast["liger_kernels"] == ["fused_linear_cross_entropy"] and fast["attn_implementation"] == "spp_varlen"
    assert fast["compile_layers"] and plain["attn_implementation"] == "sdpa" and plain["liger_kernels"] == []
    assert math.isfinite(fast["final_loss"]) and fast["trained_tokens_per_s"] > 0
    assert fast["final_loss"] == pytest.approx(plain["final_loss"], rel=0.02)  # same data, same init, bf16 noise
