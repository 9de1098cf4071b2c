"""POST JSON to OpenAI-compatible servers (vLLM, SGLang, TGI, ``transformers serve``) with one retry policy.

Shared by the reflection generator (``spp.generate.openai_client``), eval generation and the ``llm`` judge.

Promises:
- At most ``max_concurrency`` requests in flight over all ``base_urls`` (round-robin; a retry goes to the next one).
- 429, 408, 409, 425, 5xx, timeouts, connection errors and unreadable answers are retried with exponential backoff
  and jitter; ``Retry-After`` is honoured as a floor (capped at ``backoff_max_s``). Other 4xx fail at once.
- ``map`` returns one outcome per item, in order, and never raises for one failed request; an item is sent again
  only while no usable answer has come back.
- The API key is read from the environment variable ``api_key_env``; it is sent, never logged or recorded.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from spp.errors import SppConfigError

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))


class RetryableError(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class FatalError(Exception):
    pass


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


@dataclass
class ServerConfig:
    """Where to send requests and how patiently."""

    base_urls: list[str]
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = 64
    request_timeout_s: float = 120.0
    max_tries: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Doubling from ``backoff_base_s``, jittered x0.5-1.5, ``Retry-After`` as a floor, capped at the maximum."""
        delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1)) * (0.5 + random.random())
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.backoff_max_s)


@dataclass
class Outcome(Generic[T]):
    """What became of one item: ``value`` (the parsed answer) or ``error``, after ``attempts`` requests.

    ``client_s`` is the time spent in this process on the item (encoding, parsing), network waits excluded.
    """

    value: T | None = None
    error: str | None = None
    attempts: int = 0
    client_s: float = 0.0
    usage: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def choices_or_retry(data: dict[str, Any]) -> dict[str, Any]:
    """The default ``parse``: an answer must carry ``choices[0]``, else it is an unreadable answer (retried)."""
    try:
        data["choices"][0]
    except (KeyError, IndexError, TypeError) as err:
        raise RetryableError(f"bad_response: {type(err).__name__}") from err
    return data


class ServerPool:
    """Round-robin over ``config.base_urls``; ``request_count`` counts HTTP requests sent, retries included."""

    def __init__(self, config: ServerConfig):
        if not config.base_urls:
            raise SppConfigError("no server given", field="base_urls", fix="pass at least one OpenAI-compatible URL")
        if config.max_tries < 1 or config.max_concurrency < 1:
            raise SppConfigError("must be at least 1", field="max_tries/max_concurrency")
        self.config = config
        self.request_count = 0
        self._next = 0
        self._count_lock = threading.Lock()  # one pool may serve several threads (pipelined chunks)
        self._headers = {"Content-Type": "application/json"}
        if key := os.environ.get(config.api_key_env, ""):
            self._headers["Authorization"] = f"Bearer {key}"

    def post_all(self, path: str, payloads: list[dict[str, Any]]) -> list[dict[str, Any] | Exception]:
        """POST each payload to ``path``: the parsed answer, or an ``Exception`` saying why it failed."""
        outcomes = run_sync(self.map(path, payloads, lambda p: json.dumps(p).encode()))
        return [o.value if o.ok else RuntimeError(f"{o.error} (after {o.attempts} tries)") for o in outcomes]

    async def map(
        self,
        path: str,
        items: Sequence[Any],
        encode: Callable[[Any], bytes],
        parse: Callable[[dict[str, Any]], T] = choices_or_retry,
    ) -> list[Outcome[T]]:
        """One ``Outcome`` per item, in order. ``parse`` runs inside the retry loop: raise ``RetryableError`` there
        to ask again for an answer that came back unusable."""
        import aiohttp

        outcomes: list[Outcome[T] | None] = [None] * len(items)
        pending = iter(range(len(items)))
        connector = aiohttp.TCPConnector(limit=self.config.max_concurrency, limit_per_host=0, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(total=self.config.request_timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=self._headers) as session:

            async def worker() -> None:
                for index in pending:
                    outcomes[index] = await self._one(session, path, items[index], encode, parse)

            await asyncio.gather(*(worker() for _ in range(min(self.config.max_concurrency, len(items)))))
        return outcomes  # type: ignore[return-value]

    async def _one(self, session: Any, path: str, item: Any, encode: Callable, parse: Callable) -> Outcome:
        started = time.perf_counter()
        body = encode(item)
        waited = 0.0
        error = "not attempted"
        for attempt in range(1, self.config.max_tries + 1):
            sent = time.perf_counter()
            try:
                data = await self._post(session, path, body)
                waited += time.perf_counter() - sent
                value = parse(data)
            except RetryableError as err:
                error = err.reason
                if attempt < self.config.max_tries:
                    await asyncio.sleep(self.config.backoff(attempt, err.retry_after))
                waited += time.perf_counter() - sent
                continue
            except FatalError as err:
                return Outcome(error=str(err), attempts=attempt)
            usage = data.get("usage") or {}
            return Outcome(value, attempts=attempt, client_s=time.perf_counter() - started - waited, usage=usage)
        return Outcome(error=error, attempts=self.config.max_tries)

    async def _post(self, session: Any, path: str, body: bytes) -> dict[str, Any]:
        import aiohttp

        with self._count_lock:
            url = self.config.base_urls[self._next % len(self.config.base_urls)].rstrip("/") + path
            self._next += 1
            self.request_count += 1
        try:
            async with session.post(url, data=body) as response:
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
        try:
            data = json.loads(raw)
        except ValueError as err:
            raise RetryableError("bad_response: not JSON") from err
        if not isinstance(data, dict):
            raise RetryableError("bad_response: not a JSON object")
        return data
