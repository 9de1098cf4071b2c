"""The ``openai`` backend: reflections from any OpenAI-compatible server (vLLM, SGLang, TGI, ``transformers serve``).

Requests go through ``spp.generate.server_pool.ServerPool`` (bounded concurrency over several servers, retries with
backoff and ``Retry-After``; see its promises). On top of it: once a 200 with a completion arrives, the document is
validated and never regenerated (a rejected reflection stays rejected, with its reason and raw text); a document
without an answer after ``max_tries`` is ``failed`` with the last error. The API key never appears in a result.
"""

from __future__ import annotations

import json
import time
from typing import Any

from spp.errors import SppConfigError
from spp.generate.base import ReflectionGenerator, ReflectionRequest, ReflectionResult
from spp.generate.server_pool import Outcome, RetryableError, ServerConfig, ServerPool, run_sync


class OpenAIGenerator(ReflectionGenerator):
    """Reflections from OpenAI-compatible servers; see the module docstring for the guarantees."""

    name = "openai"

    def __init__(self, config, renderer, validation=None):
        super().__init__(config, renderer, validation)
        if config.endpoint not in ("chat", "completions"):
            raise SppConfigError(
                f"unknown endpoint {config.endpoint!r}", field="endpoint", fix="use 'chat' or 'completions'"
            )
        self.pool = ServerPool(
            ServerConfig(
                base_urls=list(config.base_urls),
                api_key_env=config.api_key_env,
                max_concurrency=config.max_concurrency,
                request_timeout_s=config.request_timeout_s,
                max_tries=config.max_tries,
                backoff_base_s=config.backoff_base_s,
                backoff_max_s=config.backoff_max_s,
            )
        )
        self.path = "/chat/completions" if config.endpoint == "chat" else "/completions"
        self._sampling = {
            "model": config.model,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "max_tokens": config.max_new_tokens,
            "presence_penalty": config.presence_penalty,
        }
        if config.top_k >= 0:
            self._sampling["top_k"] = config.top_k
        self._encoded_prefix: dict[str, bytes] = {}
        self.client_seconds: list[float] | None = None  # set to [] to record client-side time per document

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self.pool.request_count

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
