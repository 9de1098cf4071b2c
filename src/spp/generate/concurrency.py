"""How many requests ``ServerPool`` keeps in flight: an adaptive limit shared by a pool's calls, and the asyncio gate
each call admits its requests through."""

from __future__ import annotations

import asyncio
import threading


class AdaptiveLimit:
    """How many requests may be in flight now: between 1 and ``maximum``, shared by every ``map`` of one pool.

    Grows by one per answer that came back in under ``fast_s`` (half the request timeout), so it doubles per round
    trip while the servers keep up; halves on a sign of overload (timeout, 429, 503), at most once per round trip
    (only a request sent after the last decrease can trigger the next one). Thread-safe.
    """

    def __init__(self, initial: int, maximum: int, fast_s: float):
        self.maximum = maximum
        self.value = max(1, min(initial, maximum))
        self.fast_s = fast_s
        self.epoch = 0  # bumped on every decrease
        self._lock = threading.Lock()

    def on_answer(self, latency_s: float) -> None:
        if latency_s < self.fast_s:
            with self._lock:
                self.value = min(self.maximum, self.value + 1)

    def on_overload(self, sent_epoch: int) -> None:
        with self._lock:
            if sent_epoch == self.epoch:
                self.value = max(1, self.value // 2)
                self.epoch += 1


class AdaptiveGate:
    """An asyncio gate admitting up to ``limit.value`` holders (one per ``map`` call, i.e. per event loop)."""

    def __init__(self, limit: AdaptiveLimit):
        self.limit = limit
        self.active = 0
        self.cond = asyncio.Condition()

    async def __aenter__(self) -> int:
        async with self.cond:
            await self.cond.wait_for(lambda: self.active < self.limit.value)
            self.active += 1
        return self.limit.epoch

    async def __aexit__(self, *exc: object) -> None:
        async with self.cond:
            self.active -= 1
            self.cond.notify_all()
