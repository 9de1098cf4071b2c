"""The ``openai`` backend: any OpenAI-compatible server (vLLM, SGLang, TGI, ``transformers serve``) over aiohttp.

Promises:
- Bounded concurrency (``max_concurrency`` requests in flight over all ``base_urls``, round-robin; a retry moves on
  to the next server).
- Retries with exponential backoff and jitter on 429, 408, 5xx, timeouts, connection errors and unreadable bodies;
  ``Retry-After`` is honoured (capped at ``backoff_max_s``). After ``max_tries`` the document is ``failed`` with the
  last error. Other 4xx answers fail at once (retrying a bad request cannot help).
- A document is sent again only when no usable answer came back: once a 200 with a completion arrives, it is
  validated and never regenerated (a rejected reflection stays rejected, with its reason and raw text).
- The API key is read from the environment variable named by ``api_key_env`` and never logged or recorded.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from spp.errors import SppConfigError
from spp.generate.base import ReflectionGenerator, ReflectionRequest, ReflectionResult

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))


class RetryableError(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class FatalError(Exception):
    pass


@dataclass
class Completion:
    text: str
    tokens_in: int
    tokens_out: int


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if absent/garbled."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def run_sync(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, also when an event loop already runs (notebooks)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as err:  # re-raised in the caller's thread
            box["error"] = err

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class OpenAIGenerator(ReflectionGenerator):
    """Reflections from OpenAI-compatible servers; see the module docstring for the guarantees."""

    name = "openai"

    def __init__(self, config, renderer, validation=None):
        super().__init__(config, renderer, validation)
        if config.endpoint not in ("chat", "completions"):
            raise SppConfigError(
                f"unknown endpoint {config.endpoint!r}", field="endpoint", fix="use 'chat' or 'completions'"
            )
        if not config.base_urls:
            raise SppConfigError(
                "no server given", field="base_urls", fix="pass at least one OpenAI-compatible base URL"
            )
        if config.max_tries < 1 or config.max_concurrency < 1:
            raise SppConfigError("must be at least 1", field="max_tries/max_concurrency")
        path = "/chat/completions" if config.endpoint == "chat" else "/completions"
        self.urls = [url.rstrip("/") + path for url in config.base_urls]
        api_key = os.environ.get(config.api_key_env, "")
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._sampling = {
            "model": config.model,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "max_tokens": config.max_new_tokens,
            "presence_penalty": config.presence_penalty,
        }
        if config.top_k >= 0:
            self._sampling["top_k"] = config.top_k
        self._next_url = 0
        self._encoded_prefix: dict[str, bytes] = {}
        self.request_count = 0  # HTTP requests sent, retries included (observable for tests and benchmarks)
        self.client_seconds: list[float] | None = None  # set to [] to record client-side time per document

    def _generate(self, requests: list[ReflectionRequest]) -> list[ReflectionResult]:
        return run_sync(self.agenerate(requests))

    async def agenerate(self, requests: list[ReflectionRequest]) -> list[ReflectionResult]:
        """One result per request, in order; at most ``max_concurrency`` requests in flight."""
        import aiohttp

        results: list[ReflectionResult | None] = [None] * len(requests)
        pending = iter(range(len(requests)))
        connector = aiohttp.TCPConnector(limit=self.config.max_concurrency, limit_per_host=0, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(total=self.config.request_timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=self._headers) as session:

            async def worker() -> None:
                for index in pending:
                    results[index] = await self._one(session, requests[index])

            workers = min(self.config.max_concurrency, len(requests))
            await asyncio.gather(*(worker() for _ in range(workers)))
        return results  # type: ignore[return-value]

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

    def _url(self) -> str:
        url = self.urls[self._next_url % len(self.urls)]
        self._next_url += 1
        return url

    async def _one(self, session: Any, request: ReflectionRequest) -> ReflectionResult:
        started = time.perf_counter()
        body = self._body(request)
        waited = 0.0
        error = "not attempted"
        for attempt in range(1, self.config.max_tries + 1):
            sent = time.perf_counter()
            try:
                completion = await self._post(session, body)
            except RetryableError as err:
                error = err.reason
                if attempt < self.config.max_tries:
                    delay = self._backoff(attempt, err.retry_after)
                    await asyncio.sleep(delay)
                waited += time.perf_counter() - sent
                continue
            except FatalError as err:
                return self._failed(request, str(err), attempt)
            waited += time.perf_counter() - sent
            result = self.judge(request, completion.text, attempt, completion.tokens_in, completion.tokens_out)
            if self.client_seconds is not None:
                self.client_seconds.append(time.perf_counter() - started - waited)
            return result
        return self._failed(request, error, self.config.max_tries)

    def _failed(self, request: ReflectionRequest, error: str, attempts: int) -> ReflectionResult:
        return ReflectionResult(
            doc_id=request.doc_id,
            status="failed",
            reflection_position=request.position,
            reason=error,
            attempts=attempts,
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (attempt - 1))
        delay *= 0.5 + random.random()  # jitter: spread retries of a burst
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.config.backoff_max_s)

    async def _post(self, session: Any, body: bytes) -> Completion:
        import aiohttp

        self.request_count += 1
        try:
            async with session.post(self._url(), data=body) as response:
                raw = await response.read()
                if response.status != 200:
                    snippet = raw[:200].decode("utf-8", "replace").strip()
                    reason = f"http_{response.status}" + (f": {snippet}" if snippet else "")
                    if response.status in RETRYABLE_STATUS:
                        raise RetryableError(reason, parse_retry_after(response.headers.get("Retry-After")))
                    raise FatalError(reason)
        except asyncio.TimeoutError as err:
            raise RetryableError("timeout") from err
        except aiohttp.ClientError as err:
            raise RetryableError(f"connection_error: {type(err).__name__}") from err
        return self._completion(raw)

    def _completion(self, raw: bytes) -> Completion:
        try:
            data = json.loads(raw)
            choice = data["choices"][0]
            text = choice["message"]["content"] if self.config.endpoint == "chat" else choice["text"]
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise RetryableError(f"bad_response: {type(err).__name__}") from err
        usage = data.get("usage") or {}
        return Completion(text or "", int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
