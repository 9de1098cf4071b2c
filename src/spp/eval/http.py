"""POST JSON to OpenAI-compatible servers with the retry policy of ``spp.generate.openai_client``.

Shared by the ``openai`` generation backend and the ``llm`` judge. It reuses the foundation client's pieces
(``RETRYABLE_STATUS``, ``parse_retry_after``, ``RetryableError``/``FatalError``, ``run_sync``) and its policy:
exponential backoff with jitter, ``Retry-After`` honoured up to ``backoff_max_s``, other 4xx fail at once.
Promise: ``post_all`` returns one entry per payload, in order: the parsed JSON answer, or an ``Exception`` naming
why it failed after ``max_tries``; it never raises for a single failed request.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from dataclasses import dataclass
from typing import Any

from spp.generate.openai_client import RETRYABLE_STATUS, FatalError, RetryableError, parse_retry_after, run_sync


@dataclass
class ServerConfig:
    """Where and how to send requests (``path``: ``/chat/completions`` or ``/completions``)."""

    base_urls: list[str]
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = 64
    request_timeout_s: float = 120.0
    max_tries: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """The foundation client's delay: doubling from ``backoff_base_s``, jittered, ``Retry-After`` as a floor."""
        delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1)) * (0.5 + random.random())
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.backoff_max_s)


class ServerPool:
    """Round-robin over ``base_urls``; ``request_count`` counts HTTP requests sent (retries included)."""

    def __init__(self, config: ServerConfig):
        if not config.base_urls:
            raise ValueError("no OpenAI-compatible server given (base_urls is empty)")
        self.config = config
        self.request_count = 0
        self._next = 0

    def post_all(self, path: str, payloads: list[dict[str, Any]]) -> list[dict[str, Any] | Exception]:
        return run_sync(self._post_all(path, payloads))

    async def _post_all(self, path: str, payloads: list[dict[str, Any]]) -> list[dict[str, Any] | Exception]:
        import aiohttp

        results: list[dict[str, Any] | Exception | None] = [None] * len(payloads)
        pending = iter(range(len(payloads)))
        headers = {"Content-Type": "application/json"}
        if key := os.environ.get(self.config.api_key_env, ""):
            headers["Authorization"] = f"Bearer {key}"
        connector = aiohttp.TCPConnector(limit=self.config.max_concurrency, limit_per_host=0)
        timeout = aiohttp.ClientTimeout(total=self.config.request_timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:

            async def worker() -> None:
                for index in pending:
                    results[index] = await self._one(session, path, json.dumps(payloads[index]).encode())

            await asyncio.gather(*(worker() for _ in range(min(self.config.max_concurrency, len(payloads)))))
        return results  # type: ignore[return-value]

    async def _one(self, session: Any, path: str, body: bytes) -> dict[str, Any] | Exception:
        error: Exception = RetryableError("not attempted")
        for attempt in range(1, self.config.max_tries + 1):
            try:
                return await self._post(session, path, body)
            except RetryableError as err:
                error = err
                if attempt < self.config.max_tries:
                    await asyncio.sleep(self.config.backoff(attempt, err.retry_after))
            except FatalError as err:
                return err
        return error

    async def _post(self, session: Any, path: str, body: bytes) -> dict[str, Any]:
        import aiohttp

        url = self.config.base_urls[self._next % len(self.config.base_urls)].rstrip("/") + path
        self._next += 1
        self.request_count += 1
        try:
            async with session.post(url, data=body) as response:
                raw = await response.read()
                if response.status != 200:
                    reason = f"http_{response.status}: {raw[:200].decode('utf-8', 'replace').strip()}"
                    if response.status in RETRYABLE_STATUS:
                        raise RetryableError(reason, parse_retry_after(response.headers.get("Retry-After")))
                    raise FatalError(reason)
        except asyncio.TimeoutError as err:
            raise RetryableError("timeout") from err
        except aiohttp.ClientError as err:
            raise RetryableError(f"connection_error: {type(err).__name__}") from err
        try:
            data = json.loads(raw)
            data["choices"][0]
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise RetryableError(f"bad_response: {type(err).__name__}") from err
        return data
