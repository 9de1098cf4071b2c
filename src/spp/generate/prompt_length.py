"""The generator prompt against the server's model length, checked before the first request.

Real servers refuse a request whose prompt and answer exceed their model's length (vLLM's ``max_model_len``,
``transformers serve --max-model-len``, SGLang's context length, TGI's ``max-total-tokens``). Every reflection prompt
shares the system message (task, persona, constitution) and the user template; only the document excerpt differs.

Promise of ``check_prompt_length``: when the model length is known (the recipe's ``max_model_len``, else what the
server reports: ``max_model_len`` in vLLM's ``/v1/models`` or ``/tokenize`` answer) and the shared prompt can be
counted (the server's ``/tokenize`` route, else the recipe's ``prompt_tokenizer``), a shared prompt that with
``max_new_tokens`` does not fit stops the run with ``SppConfigError`` (exit 2) naming both numbers and the fix, before
any generation request. Otherwise it logs what it could not check; a single document whose prompt is too long is then
refused by the server and recorded as ``failed`` with reason ``prompt_too_long`` (``spp.generate.server_pool``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from spp.errors import SppConfigError
from spp.persona.render import messages_to_text

logger = logging.getLogger(__name__)

FIX = (
    "serve the model with a longer context (vLLM and transformers serve: --max-model-len; SGLang: --context-length; "
    "TGI: --max-total-tokens), lower max_new_tokens, or shorten the prompt (a shorter constitution, or a smaller "
    "max_document_chars for the document excerpt)"
)


@dataclass(frozen=True)
class Count:
    """A number of tokens and where it came from (for the error text)."""

    tokens: int
    source: str


def model_length(pool: Any, config: Any, tokenized: dict | None) -> Count | None:
    """The server's model length: ``config.max_model_len``, else ``max_model_len`` of the served model in
    ``/v1/models`` (vLLM), else of a ``/tokenize`` answer; ``None`` when neither is known."""
    if config.max_model_len is not None:
        return Count(config.max_model_len, "max_model_len in the recipe")
    models = pool.fetch_json("/models")
    entries = models.get("data") if isinstance(models, dict) else None
    if isinstance(entries, list):
        named = [e for e in entries if isinstance(e, dict) and e.get("id") == config.model]
        candidates = named or (entries if len(entries) == 1 else [])
        for entry in candidates:
            if isinstance(entry, dict) and isinstance(entry.get("max_model_len"), int):
                return Count(entry["max_model_len"], "max_model_len the server reports in /v1/models")
    if tokenized and isinstance(tokenized.get("max_model_len"), int):
        return Count(tokenized["max_model_len"], "max_model_len the server reports in /tokenize")
    return None


def tokenize_on_server(pool: Any, config: Any, messages: list[dict[str, str]]) -> dict | None:
    """The server's ``/tokenize`` answer for the prompt (vLLM and SGLang serve it beside ``/v1``), or ``None``."""
    if config.endpoint == "chat":
        payload = {"model": config.model, "messages": messages, "add_generation_prompt": True}
    else:
        payload = {"model": config.model, "prompt": messages_to_text(messages)}
    for path in ("//tokenize", "/tokenize"):
        answer = pool.fetch_json(path, payload)
        if isinstance(answer, dict) and ("count" in answer or "tokens" in answer):
            return answer
    return None


def count_locally(config: Any, messages: list[dict[str, str]]) -> Count:
    """The prompt's length in ``config.prompt_tokenizer``, with its chat template on the chat endpoint."""
    from spp.modeling.load import ModelSettings, load_tokenizer

    tokenizer = load_tokenizer(config.prompt_tokenizer, ModelSettings(), "prompt_tokenizer")
    if config.endpoint == "chat" and getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids  # a BatchEncoding in transformers 5
    else:
        ids = tokenizer(messages_to_text(messages), add_special_tokens=True)["input_ids"]
    return Count(len(ids), f"counted with prompt_tokenizer {config.prompt_tokenizer}")


def check_prompt_length(pool: Any, config: Any, renderer: Any) -> None:
    """Raise ``SppConfigError`` when the prompt every request shares, plus ``max_new_tokens``, exceeds the server's
    model length; log what it could not check. See the module docstring."""
    shared = renderer.messages("", 0)
    tokenized = None if config.prompt_tokenizer else tokenize_on_server(pool, config, shared)
    limit = model_length(pool, config, tokenized)
    if limit is None:
        logger.info("prompt length not checked: set max_model_len (the server reports none)")
        return
    if config.prompt_tokenizer:
        prompt = count_locally(config, shared)
    elif tokenized is not None:
        counted = tokenized.get("count")
        prompt = Count(int(counted if counted is not None else len(tokenized["tokens"])), "counted by the server")
    else:
        logger.warning(
            "prompt length not checked against the model length of %d: the server has no /tokenize route; set "
            "prompt_tokenizer to the served model's tokenizer to check it before the first request",
            limit.tokens,
        )
        return
    need = prompt.tokens + config.max_new_tokens
    if need > limit.tokens:
        raise SppConfigError(
            f"the generator prompt has {prompt.tokens} tokens before any document text ({prompt.source}); with "
            f"max_new_tokens {config.max_new_tokens} a request needs at least {need} tokens, but the server's model "
            f"takes at most {limit.tokens} ({limit.source}): every request would be refused as too long",
            field="max_new_tokens",
            fix=FIX,
        )
    logger.info(
        "prompt length: %d tokens shared + %d new tokens of the model's %d; a document excerpt may use the other %d "
        "(a longer one is recorded as failed, prompt_too_long)",
        prompt.tokens,
        config.max_new_tokens,
        limit.tokens,
        limit.tokens - need,
    )
