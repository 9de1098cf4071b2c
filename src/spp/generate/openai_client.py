"""The ``openai`` backend: reflections from any OpenAI-compatible server (vLLM, SGLang, TGI, ``transformers serve``).

Requests go through ``spp.generate.server_pool.ServerPool`` (bounded concurrency over several servers, retries with
backoff and ``Retry-After``; see its promises). On top of it: once a 200 with a completion arrives, the document is
validated and never regenerated (a rejected reflection stays rejected, with its reason and raw text); a document
without an answer within the retry budget is ``failed`` with the last error. The API key never appears in a result.
Only the sampling fields that are set and that the ``server_kind`` accepts are sent (``SERVER_KINDS``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from spp.errors import SppConfigError
from spp.generate.base import ENDPOINTS, ReflectionGenerator, ReflectionRequest, ReflectionResult
from spp.generate.prompt_length import check_prompt_length
from spp.generate.server_pool import Outcome, RetryableError, ServerConfig, ServerPool, run_sync

logger = logging.getLogger(__name__)

STANDARD_FIELDS = ("temperature", "top_p", "presence_penalty")


@dataclass(frozen=True)
class ServerKind:
    """What a server accepts beyond the OpenAI fields: ``extra`` may be sent; ``ignored`` are accepted, unused."""

    extra: frozenset[str] = frozenset()
    ignored: frozenset[str] = frozenset()


# Checked against each server's request schema: vLLM and SGLang take top_k as an extra sampling field; TGI's
# Messages API and hosted OpenAI-compatible APIs take only OpenAI's fields; `transformers serve` answers 422 to any
# field outside OpenAI's schema (top_k) and accepts presence_penalty without using it (UNUSED_CHAT_COMPLETION_FIELDS).
SERVER_KINDS: dict[str, ServerKind] = {
    "openai": ServerKind(),
    "vllm": ServerKind(extra=frozenset({"top_k"})),
    "sglang": ServerKind(extra=frozenset({"top_k"})),
    "tgi": ServerKind(),
    "transformers-serve": ServerKind(ignored=frozenset({"presence_penalty"})),
}


def server_config(config) -> ServerConfig:
    """The ``ServerPool`` settings of a ``GeneratorConfig`` (every generator on the server stack uses these)."""
    return ServerConfig(
        base_urls=list(config.base_urls),
        api_key_env=config.api_key_env,
        max_concurrency=config.max_concurrency,
        request_timeout_s=config.request_timeout_s,
        max_tries=config.max_tries,
        backoff_base_s=config.backoff_base_s,
        backoff_max_s=config.backoff_max_s,
        retry_budget_s=config.retry_budget_s,
        initial_concurrency=config.initial_concurrency,
    )


def sampling_fields(config) -> dict[str, Any]:
    """The sampling fields of a request: only those set, only those ``config.server_kind`` accepts.

    Raises ``SppConfigError`` for an extra field (``top_k``) the server kind would reject; warns about fields it
    accepts but ignores.
    """
    if config.server_kind not in SERVER_KINDS:
        raise SppConfigError(
            f"unknown server kind {config.server_kind!r}",
            field="server_kind",
            fix=f"use one of {sorted(SERVER_KINDS)}",
        )
    kind = SERVER_KINDS[config.server_kind]
    fields = {"model": config.model, "max_tokens": config.max_new_tokens}
    fields |= {name: getattr(config, name) for name in STANDARD_FIELDS if getattr(config, name) is not None}
    if config.top_k is not None and config.top_k >= 0:
        if "top_k" not in kind.extra:
            accepting = sorted(name for name, k in SERVER_KINDS.items() if "top_k" in k.extra)
            raise SppConfigError(
                f"server_kind {config.server_kind!r} does not accept top_k (the request would be refused or the "
                "field silently dropped)",
                field="top_k",
                fix=f"leave top_k empty, or set server_kind to one of {accepting} if that is the server",
            )
        fields["top_k"] = config.top_k
    for name in sorted(kind.ignored & fields.keys()):
        logger.warning("%s is sent but %s ignores it", name, config.server_kind)
    return fields


class OpenAIGenerator(ReflectionGenerator):
    """Reflections from OpenAI-compatible servers; see the module docstring for the guarantees."""

    name = "openai"

    def __init__(self, config, renderer, validation=None):
        super().__init__(config, renderer, validation)
        if config.endpoint not in ENDPOINTS:
            raise SppConfigError(
                f"unknown endpoint {config.endpoint!r}", field="endpoint", fix="use 'chat' or 'completions'"
            )
        self.pool = ServerPool(server_config(config))
        self.path = "/chat/completions" if config.endpoint == "chat" else "/completions"
        self._sampling = sampling_fields(config)
        self._encoded_prefix: dict[str, bytes] = {}
        self.client_seconds: list[float] | None = None  # set to [] to record client-side time per document

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self.pool.request_count

    def check_reachable(self) -> None:
        """Exit-2 error naming every URL and its OS error when no server answers (see ``ServerPool.probe``), or
        naming both lengths when the shared prompt cannot fit the server's model (``spp.generate.prompt_length``)."""
        self.pool.check_reachable()
        check_prompt_length(self.pool, self.config, self.renderer)

    def error_summary(self) -> str:
        """Failed tries so far by server and error kind."""
        return self.pool.error_summary()

    def _generate(self, requests: list[ReflectionRequest]) -> list[ReflectionResult]:
        return run_sync(self.agenerate(requests))

    async def agenerate(self, requests: list[ReflectionRequest]) -> list[ReflectionResult]:
        """One result per request, in order."""
        outcomes = await self.pool.map(self.path, requests, self._body, self._completion_text)
        return [self._result(request, outcome) for request, outcome in zip(requests, outcomes, strict=True)]

    def _body(self, request: ReflectionRequest) -> bytes:
        """The request body. The system message (~11 KB, shared by every document) is JSON-encoded once."""
        if self.config.endpoint != "chat":
            return json.dumps({**self._sampling, "prompt": self.prompt_text(request)}, ensure_ascii=False).encode()
        system, user = self.prompt_messages(request)
        prefix = self._encoded_prefix.get(system["content"])
        if prefix is None:
            head = json.dumps({**self._sampling, "messages": [system]}, ensure_ascii=False)
            prefix = self._encoded_prefix[system["content"]] = head[: -len("]}")].encode()
        return prefix + b", " + json.dumps(user, ensure_ascii=False).encode() + b"]}"

    def _completion_text(self, data: dict[str, Any]) -> str:
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] if self.config.endpoint == "chat" else choice["text"]
        except (KeyError, IndexError, TypeError) as err:
            raise RetryableError(f"bad_response: {type(err).__name__}") from err
        return text or ""

    def _result(self, request: ReflectionRequest, outcome: Outcome[str]) -> ReflectionResult:
        if not outcome.ok:
            return ReflectionResult(
                doc_id=request.doc_id,
                status="failed",
                reflection_position=request.position,
                reason=outcome.error,
                attempts=outcome.attempts,
            )
        usage = outcome.usage
        judged = time.perf_counter()
        result = self.judge(
            request,
            outcome.value,
            outcome.attempts,
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
        )
        if self.client_seconds is not None:
            self.client_seconds.append(outcome.client_s + time.perf_counter() - judged)
        return result
