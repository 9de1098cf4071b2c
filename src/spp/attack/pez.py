"""PEZ (Wen et al. 2023, "Hard Prompts Made Easy") as HarmBench runs it against a chat model.

Per test case, ``num_optim_tokens`` soft embeddings placed after the behaviour text start at the embeddings of
random tokens and are optimised with Adam (no weight decay, cosine learning-rate schedule over ``num_steps``) to
minimise the target string's cross-entropy. Every forward pass uses their projection onto the nearest token
embeddings (cosine similarity), with the gradient passed straight through to the soft embeddings. The test case is
the behaviour text followed by the projection after the last step, decoded.

Defaults are HarmBench's ``configs/method_configs/PEZ_config.yaml`` (num_test_cases_per_behavior 5, num_steps 100,
lr 0.01, num_optim_tokens 20), read in public copies of HarmBench's repository. Differences, all deliberate: rows of
several behaviours share a batch (HarmBench batches the test cases of one behaviour); the projection is onto tokens
a test case can carry as text (no special tokens, no embedding rows past the tokenizer); the initial tokens are
drawn per (seed, behaviour, test case), so a result does not depend on what it was batched with.
"""

from __future__ import annotations

import hashlib

import torch

from spp.attack.prompts import AttackContext, Layout, PromptRow
from spp.attack.registry import AttackMethod, RowResult, register_method

DEFAULTS = {"num_test_cases_per_behavior": 5, "num_steps": 100, "lr": 0.01, "num_optim_tokens": 20}


def row_generator(seed: int, row: PromptRow) -> torch.Generator:
    digest = hashlib.sha256(f"{seed}:{row.behavior_id}:{row.index}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))


def initial_ids(rows: list[PromptRow], allowed: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``(rows, n)`` random allowed token ids, drawn per row (see ``row_generator``)."""
    choices = allowed.nonzero().squeeze(1).cpu()
    draws = [torch.randint(len(choices), (n,), generator=row_generator(seed, row)) for row in rows]
    return choices[torch.stack(draws)].to(allowed.device)


def nearest_tokens(embeds: torch.Tensor, unit_vocab: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """The allowed token whose embedding is closest in cosine similarity to each of ``embeds`` ``(..., dim)``."""
    scores = torch.nn.functional.normalize(embeds.float(), dim=-1) @ unit_vocab.T
    return scores.masked_fill(~allowed, float("-inf")).argmax(dim=-1)


def optimize(context: AttackContext, rows: list[PromptRow], hp: dict, seed: int, **_) -> list[RowResult]:
    n, steps = int(hp["num_optim_tokens"]), int(hp["num_steps"])
    layout, weights = Layout(context, rows, n), context.embeddings.detach()
    unit_vocab = torch.nn.functional.normalize(weights.float(), dim=-1)
    start = initial_ids(rows, context.allowed, n, seed)
    soft = torch.nn.Parameter(weights[start].float().clone())  # float32: Adam on bf16 embeddings gives NaNs
    optimizer = torch.optim.Adam([soft], lr=float(hp["lr"]), weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    curve: list[list[float]] = []
    for _ in range(steps):
        with torch.no_grad():
            hard = weights[nearest_tokens(soft, unit_vocab, context.allowed)].float()
        projected = soft + (hard - soft).detach()  # straight-through: forward the projection, gradient to soft
        loss = layout.loss(layout.embeds(projected))
        optimizer.zero_grad()
        loss.sum().backward(inputs=[soft])
        optimizer.step()
        schedule.step()
        curve.append(loss.detach().cpu().tolist())
    with torch.no_grad():
        final = nearest_tokens(soft, unit_vocab, context.allowed)
    lengths = layout.mask.sum(dim=1).tolist()
    return [
        RowResult(
            test_case=context.decode(row.head + final[i].tolist()),
            initial_test_case=context.decode(row.head + start[i].tolist()),
            losses=[step[i] for step in curve],
            tokens=int(lengths[i]) * steps,
        )
        for i, row in enumerate(rows)
    ]


register_method(
    AttackMethod(
        name="pez",
        description="PEZ: soft prompt optimised in embedding space, projected to the nearest tokens each step",
        defaults=DEFAULTS,
        optimize=optimize,
        source="HarmBench configs/method_configs/PEZ_config.yaml (default_method_hyperparameters)",
    )
)
