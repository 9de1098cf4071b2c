"""POST JSON to OpenAI-compatible servers (vLLM, SGLang, TGI, ``transformers serve``) with one retry policy.

Shared by the reflection generator (``spp.generate.openai_client``), eval generation and the ``llm`` judge.

Promises:
- At most ``max_concurrency`` requests in flight over all ``base_urls`` (round-robin; a retry goes to the next one).
  Within that cap the number in flight adapts to what the servers sustain (``AdaptiveLimit``): it starts at
  ``initial_concurrency``, grows while answers come back in under half of ``request_timeout_s`` and halves on a
  timeout, 429 or 503. A non-streamed answer's first byte is its last, so a request timeout necessarily counts the
  time a request waits in the server's queue; keeping the queue short is what makes a fixed timeout meaningful.
- 429, 408, 409, 425, 5xx, timeouts, connection errors and unreadable answers are retried with exponential backoff
  and jitter; ``Retry-After`` is honoured as a floor (capped at ``backoff_max_s``). Other 4xx fail at once; one that
  says the prompt is longer than the server's model takes fails with the reason ``prompt_too_long`` (no retry can
  help, ``is_prompt_too_long``), and the first such message of each server is logged. An item
  is retried until it has an answer, ``max_tries`` is reached (0: no count limit) or ``retry_budget_s`` has passed
  since its first try; when no server has answered for a whole budget, items fail after one try (an outage does not
  stall the job; a rerun regenerates them).
- ``probe`` asks every base URL for ``/models`` before work starts; ``errors`` counts failed tries by server and
  error kind, with the last OS error of each server, for a summary that names them.
- ``map`` returns one outcome per item, in order, and never raises for one failed request; an item is sent again
  only while no usable answer has come back.
- The API key is read from the environment variable ``api_key_env``; it is sent, never logged or recorded.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from spp.errors import SppConfigError
from spp.generate.concurrency import AdaptiveGate, AdaptiveLimit

logger = logging.getLogger(__name__)
T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))
PROMPT_TOO_LONG = "prompt_too_long"
# How servers say a request is longer than their model takes, read in their sources/answers: `transformers serve`
# ("The prompt has N tokens, but the model takes at most M"), vLLM ("This model's maximum context length is M tokens.
# However, you requested N tokens"), OpenAI (code "context_length_exceeded"), SGLang ("The input (N tokens) is longer
# than the model's context length (M tokens)"), TGI ("`inputs` tokens + `max_new_tokens` must be <= M").
_TOO_LONG = re.compile(
    r"takes at most \d+|maximum context length|context_length_exceeded|longer than the model's context length"
    r"|max_new_tokens` must be <= \d+|prompt is too long",
    re.IGNORECASE,
)


class RetryableError(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class FatalError(Exception):
    pass


def is_prompt_too_long(status: int, body: str) -> bool:
    """Whether an HTTP answer refuses a request for being longer than the server's model takes (never retried)."""
    return status in (400, 413, 422) and _TOO_LONG.search(body) is not None


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
    retry_budget_s: float = 300.0
    initial_concurrency: int = 16

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


OVERLOAD_KINDS = ("timeout", "http_429", "http_503")


class ServerPool:
    """Round-robin over ``config.base_urls``; ``request_count`` counts HTTP requests sent, retries included."""

    def __init__(self, config: ServerConfig):
        if not config.base_urls:
            raise SppConfigError("no server given", field="base_urls", fix="pass at least one OpenAI-compatible URL")
        if config.max_tries < 0 or config.max_concurrency < 1:
            raise SppConfigError("max_tries must be >= 0 and max_concurrency >= 1", field="max_tries/max_concurrency")
        self.config = config
        self.request_count = 0
        self.errors: Counter = Counter()  # (base url, error kind) -> failed tries
        self.last_os_error: dict[str, str] = {}  # base url -> the last connection error's text
        self.too_long_message: dict[str, str] = {}  # base url -> its first "prompt too long" answer
        self.limit = AdaptiveLimit(config.initial_concurrency, config.max_concurrency, config.request_timeout_s / 2)
        self._last_answer = time.monotonic()  # last time any server answered (any HTTP status)
        self._next = 0
        self._count_lock = threading.Lock()  # one pool may serve several threads (pipelined chunks)
        self._headers = {"Content-Type": "application/json"}
        if key := os.environ.get(config.api_key_env, ""):
            self._headers["Authorization"] = f"Bearer {key}"

    def probe(self, timeout_s: float = 10.0) -> dict[str, str | None]:
        """``{base url: None if it answered (any HTTP status) else the OS error}``, asking ``GET <url>/models``."""
        return run_sync(self._probe(timeout_s))

    async def _probe(self, timeout_s: float) -> dict[str, str | None]:
        import aiohttp

        async def one(session: Any, base: str) -> str | None:
            try:
                async with session.get(base.rstrip("/") + "/models") as response:
                    await response.read()
                return None
            except asyncio.TimeoutError:
                return f"no answer within {timeout_s:g} s"
            except aiohttp.ClientError as err:
                return str(getattr(err, "os_error", None) or err)

        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with aiohttp.ClientSession(timeout=timeout, headers=self._headers) as session:
            found = await asyncio.gather(*(one(session, base) for base in self.config.base_urls))
        return dict(zip(self.config.base_urls, found, strict=True))

    def fetch_json(self, path: str, payload: dict[str, Any] | None = None, timeout_s: float = 10.0) -> Any:
        """The JSON answer of the first server to answer ``GET`` (``POST`` with a ``payload``) ``path`` with 200;
        ``None`` when none does. ``path`` is under the base URL (``/models``), or under the server's root when it
        starts with ``//`` (``//tokenize``: vLLM's and SGLang's routes beside ``/v1``). Not counted as requests."""
        return run_sync(self._fetch_json(path, payload, timeout_s))

    async def _fetch_json(self, path: str, payload: dict[str, Any] | None, timeout_s: float) -> Any:
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with aiohttp.ClientSession(timeout=timeout, headers=self._headers) as session:
            for base in self.config.base_urls:
                root = base.rstrip("/")
                url = root.rsplit("/v1", 1)[0] + path[1:] if path.startswith("//") else root + path
                try:
                    method = session.post(url, json=payload) if payload is not None else session.get(url)
                    async with method as response:
                        if response.status == 200:
                            return json.loads(await response.read())
                except (asyncio.TimeoutError, aiohttp.ClientError, ValueError):
                    continue
        return None

    def check_reachable(self) -> None:
        """Raise ``SppConfigError`` naming every URL and its OS error when no server answers; warn about the dead."""
        found = self.probe()
        dead = {url: err for url, err in found.items() if err is not None}
        if len(dead) == len(found):
            listed = "; ".join(f"{url}: {err}" for url, err in dead.items())
            raise SppConfigError(
                f"no server answers ({listed})",
                field="base_urls",
                fix="start the servers (or wait until they have loaded the model), or fix base_urls",
            )
        for url, err in dead.items():
            logger.warning("server %s does not answer (%s): its share of requests will be retried elsewhere", url, err)

    def error_summary(self) -> str:
        """Failed tries by server and error kind, e.g. ``http://a/v1: connection_error 12 ([Errno 111] ...)``."""
        by_url: dict[str, list[str]] = {}
        for (url, kind), n in sorted(self.errors.items()):
            by_url.setdefault(url, []).append(f"{kind} {n}")
        parts = []
        for url, kinds in by_url.items():
            os_error = f" (last: {self.last_os_error[url]})" if url in self.last_os_error else ""
            parts.append(f"{url}: {', '.join(kinds)}{os_error}")
        return "; ".join(parts)

    def post_all(
        self, path: str, payloads: list[dict[str, Any]], on_done: Callable[[int], Any] | None = None
    ) -> list[dict[str, Any] | Exception]:
        """POST each payload to ``path``: the parsed answer, or an ``Exception`` saying why it failed. ``on_done(1)``
        is called as each one finishes (a progress bar's ``update``)."""
        outcomes = run_sync(self.map(path, payloads, lambda p: json.dumps(p).encode(), on_done=on_done))
        return [o.value if o.ok else RuntimeError(f"{o.error} (after {o.attempts} tries)") for o in outcomes]

    async def map(
        self,
        path: str,
        items: Sequence[Any],
        encode: Callable[[Any], bytes],
        parse: Callable[[dict[str, Any]], T] = choices_or_retry,
        on_done: Callable[[int], Any] | None = None,
    ) -> list[Outcome[T]]:
        """One ``Outcome`` per item, in order. ``parse`` runs inside the retry loop: raise ``RetryableError`` there
        to ask again for an answer that came back unusable. ``on_done(1)`` is called as each item finishes."""
        import aiohttp

        outcomes: list[Outcome[T] | None] = [None] * len(items)
        pending = iter(range(len(items)))
        connector = aiohttp.TCPConnector(limit=self.config.max_concurrency, limit_per_host=0, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(
            total=self.config.request_timeout_s, sock_connect=min(10.0, self.config.request_timeout_s)
        )
        gate = AdaptiveGate(self.limit)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=self._headers) as session:

            async def worker() -> None:
                for index in pending:
                    outcomes[index] = await self._one(session, gate, path, items[index], encode, parse)
                    if on_done is not None:
                        on_done(1)

            await asyncio.gather(*(worker() for _ in range(min(self.config.max_concurrency, len(items)))))
        return outcomes  # type: ignore[return-value]

    def _give_up(self, attempt: int, first_try: float, delay: float) -> bool:
        """No further try: ``max_tries`` reached, the retry budget spent, or every server silent for a budget."""
        config, now = self.config, time.monotonic()
        if config.max_tries and attempt >= config.max_tries:
            return True
        if now - self._last_answer > config.retry_budget_s:
            return True
        return now + delay - first_try > config.retry_budget_s

    async def _one(self, session: Any, gate: AdaptiveGate, path: str, item: Any, encode: Callable, parse: Callable):
        started = time.perf_counter()
        first_try = time.monotonic()
        body = encode(item)
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            sent = time.perf_counter()
            try:
                async with gate as epoch:
                    try:
                        data = await self._post(session, path, body)
                    except RetryableError as err:
                        if err.reason.startswith(OVERLOAD_KINDS):
                            self.limit.on_overload(epoch)
                        raise
                    self.limit.on_answer(time.perf_counter() - sent)
                waited += time.perf_counter() - sent
                value = parse(data)
            except RetryableError as err:
                delay = self.config.backoff(attempt, err.retry_after)
                if self._give_up(attempt, first_try, delay):
                    return Outcome(error=err.reason, attempts=attempt)
                await asyncio.sleep(delay)
                waited += time.perf_counter() - sent
                continue
            except FatalError as err:
                return Outcome(error=str(err), attempts=attempt)
            usage = data.get("usage") or {}
            return Outcome(value, attempts=attempt, client_s=time.perf_counter() - started - waited, usage=usage)

    def _record(self, base: str, reason: str) -> None:
        with self._count_lock:
            self.errors[(base, reason.split(":")[0])] += 1

    async def _post(self, session: Any, path: str, body: bytes) -> dict[str, Any]:
        import aiohttp

        with self._count_lock:
            base = self.config.base_urls[self._next % len(self.config.base_urls)]
            url = base.rstrip("/") + path
            self._next += 1
            self.request_count += 1
        try:
            async with session.post(url, data=body) as response:
                raw = await response.read()
                self._last_answer = time.monotonic()
                if response.status != 200:
                    text = raw[:4000].decode("utf-8", "replace")
                    if is_prompt_too_long(response.status, text):
                        self._record(base, PROMPT_TOO_LONG)
                        if base not in self.too_long_message:
                            self.too_long_message[base] = text.strip()
                            logger.warning("%s refused a prompt as too long: %s", base, text.strip()[:500])
                        raise FatalError(PROMPT_TOO_LONG)
                    snippet = text[:200].strip()
                    reason = f"http_{response.status}" + (f": {snippet}" if snippet else "")
                    self._record(base, reason)
                    if response.status in RETRYABLE_STATUS:
                        raise RetryableError(reason, parse_retry_after(response.headers.get("Retry-After")))
                    raise FatalError(reason)
        except asyncio.TimeoutError as err:
            self._record(base, "timeout")
            raise RetryableError("timeout") from err
        except aiohttp.ClientError as err:
            self._record(base, "connection_error")
            self.last_os_error[base] = str(getattr(err, "os_error", None) or err)
            raise RetryableError(f"connection_error: {type(err).__name__}") from err
        try:
            data = json.loads(raw)
        except ValueError as err:
            raise RetryableError("bad_response: not JSON") from err
        if not isinstance(data, dict):
            raise RetryableError("bad_response: not a JSON object")
        return data
