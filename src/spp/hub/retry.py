"""Retrying Hub calls that the server asks us to repeat: 429 (rate limit) and 5xx, with exponential backoff.

The Hub allows on the order of 128 commits per repo per hour, so a burst of checkpoint uploads can meet 429s; a
``Retry-After`` header, when sent, is honoured. Anything else (403, 404, a bad request) fails at once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from spp.hub.access import redact

logger = logging.getLogger("spp.hub")
T = TypeVar("T")
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass
class RetryPolicy:
    """How often and how patiently to retry. ``sleep`` is injectable so tests do not wait."""

    max_retries: int = field(default=8, metadata={"help": "retries after the first try, for 429/5xx answers"})
    base_delay: float = field(default=2.0, metadata={"help": "seconds before the first retry; doubles each time"})
    max_delay: float = field(default=600.0, metadata={"help": "cap on one wait, in seconds"})
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        return min(self.base_delay * 2**attempt, self.max_delay) * (1 + 0.25 * random.random())


def http_status(err: BaseException) -> int | None:
    """The HTTP status of a Hub error (or of the error it wraps), if it has one."""
    for candidate in (err, err.__cause__, err.__context__):
        response = getattr(candidate, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def _retry_after(err: BaseException) -> float | None:
    headers = getattr(getattr(err, "response", None), "headers", None) or {}
    try:
        return float(headers.get("retry-after") or headers.get("Retry-After"))
    except (TypeError, ValueError):
        return None


def is_retryable(err: BaseException) -> bool:
    """429 and 5xx answers, and connection-level failures (no answer at all), are worth repeating."""
    status = http_status(err)
    if status is not None:
        return status in RETRY_STATUS
    return isinstance(err, ConnectionError | TimeoutError) and type(err).__name__ != "OfflineModeIsEnabled"


def with_retries(call: Callable[[], T], what: str, policy: RetryPolicy) -> T:
    """``call()``, repeated under ``policy`` while it fails in a retryable way; the last error is raised."""
    for attempt in range(policy.max_retries + 1):
        try:
            return call()
        except Exception as err:
            if attempt >= policy.max_retries or not is_retryable(err):
                raise
            wait = policy.delay(attempt, _retry_after(err))
            logger.warning(
                "%s: %s (HTTP %s), retry %d/%d in %.1fs",
                what,
                redact(type(err).__name__),
                http_status(err),
                attempt + 1,
                policy.max_retries,
                wait,
            )
            policy.sleep(wait)
    raise AssertionError("unreachable")
