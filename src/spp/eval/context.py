"""Prompts that do not fit the model's context, handled by one stated rule before anything is generated.

A prompt fits when its tokens (chat template and system turn included, as the backend renders it) plus the
benchmark's ``max_new_tokens`` are at most the model's context (``max_position_embeddings`` of its config, else the
tokenizer's ``model_max_length``). One that does not is, with ``overlong_prompts: truncate``, cut by
``TRUNCATION_RULE``: the text before the request (a DAN template, an attack prefix) loses tokens from its start until
the prompt fits; the request itself is never cut. Each truncated item is counted per benchmark (results'
``context.truncated``) and marked in verdicts.jsonl (``truncated_tokens``). An item that cannot fit so (no text
before the request, or the request alone too long), and every overlong item with ``overlong_prompts: refuse``, stops
the run before generation with exit 2, naming the items. A backend without a tokenizer (a served model) is not
checked, and results say so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from spp.errors import SppConfigError
from spp.eval.generation import GenRequest
from spp.eval.items import EvalItem

logger = logging.getLogger("spp.eval")
TRUNCATION_RULE = "left-truncate the text before the request (e.g. the jailbreak template); the request is kept whole"
HUGE = 1_000_000  # tokenizers without a real limit report ~1e30


def context_length(backend: Any) -> int | None:
    """The model's context in tokens, or ``None`` when the backend does not say (a served model)."""
    model, tokenizer = getattr(backend, "model", None), getattr(backend, "tokenizer", None)
    found = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not found and tokenizer is not None and 0 < int(getattr(tokenizer, "model_max_length", 0) or 0) < HUGE:
        found = tokenizer.model_max_length
    return int(found) if found else None


def _length(backend: Any, request: GenRequest) -> int:
    text = backend.render(request)
    return len(backend.tokenizer(text, add_special_tokens=not request.chat)["input_ids"])


def _cut(item: EvalItem, drop: int, tokenizer: Any) -> tuple[EvalItem, int] | None:
    """``item`` with the first ``drop`` tokens of the text before its request removed (``None``: nothing to cut)."""
    at = item.prompt.rfind(item.behavior) if item.behavior else -1
    if at <= 0:
        return None
    ids = tokenizer(item.prompt[:at], add_special_tokens=False)["input_ids"]
    if drop > len(ids):
        return None
    head = tokenizer.decode(ids[drop:], skip_special_tokens=True)
    return replace(item, prompt=head + item.prompt[at:], extra={**item.extra, "truncated_tokens": drop}), drop


def fit_items(
    items: list[EvalItem],
    request_of: Callable[[EvalItem], GenRequest],
    backend: Any,
    max_new_tokens: int,
    mode: str,
    name: str,
) -> tuple[list[EvalItem], dict[str, Any]]:
    """``(items, context record)``: every item fitted to the context by the module's rule (or the run refused)."""
    limit = context_length(backend)
    if limit is None or getattr(backend, "tokenizer", None) is None or not hasattr(backend, "render"):
        return items, {"checked": False, "why": "the backend gives no tokenizer or context length (a served model)"}
    budget = limit - max_new_tokens
    out, truncated, unfit = [], 0, []
    for item in items:
        over = _length(backend, request_of(item)) - budget
        if over <= 0:
            out.append(item)
            continue
        fitted = _fit(item, over, request_of, backend, budget) if mode == "truncate" else None
        if fitted is None:
            unfit.append(f"{item.id} ({over} tokens over)")
            continue
        out.append(fitted)
        truncated += 1
    if unfit:
        how = "cannot be truncated to fit (no text before the request, or the request alone is too long)"
        raise SppConfigError(
            f"{name}: {len(unfit)} prompts plus max_new_tokens {max_new_tokens} exceed the model's context of {limit} "
            f"tokens and {how if mode == 'truncate' else 'overlong_prompts is refuse'}: {', '.join(unfit[:5])}",
            field="overlong_prompts",
            fix="lower this benchmark's max_new_tokens, use a model with a longer context, or set overlong_prompts: "
            "truncate (cuts the text before the request)",
        )
    if truncated:
        logger.warning("%s: %d of %d prompts truncated to fit %d tokens (%s)", name, truncated, len(items), limit,
                       TRUNCATION_RULE)  # fmt: skip
    return out, {"checked": True, "tokens": limit, "max_new_tokens": max_new_tokens, "truncated": truncated,
                 "rule": TRUNCATION_RULE if mode == "truncate" else "refuse"}  # fmt: skip


def _fit(item: EvalItem, over: int, request_of, backend: Any, budget: int) -> EvalItem | None:
    """Cut ``over`` tokens, then a few more while re-tokenisation at the cut still overflows."""
    drop = over
    for _ in range(8):
        cut = _cut(item, drop, backend.tokenizer)
        if cut is None:
            return None
        fitted, _ = cut
        extra = _length(backend, request_of(fitted)) - budget
        if extra <= 0:
            return fitted
        drop += extra
    return None
