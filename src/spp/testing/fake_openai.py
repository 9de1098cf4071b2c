"""A loopback OpenAI-compatible server that answers instantly, with optional injected faults.

For tests and ``benchmarks/generate_client.py``; never for real generation. It answers
``/v1/chat/completions`` and ``/v1/completions`` with a valid reflection JSON, and — with ``fault_rate`` — answers
a seeded share of requests with 429 (with ``Retry-After``), 500, 503 or a stall longer than the client's timeout.
It counts, per document (the hash of the last user message or of the prompt), how many successful answers it
gave, so a test can check that no document was generated twice.

Run standalone: ``python -m spp.testing.fake_openai --port 8011 [--fault_rate 0.2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

FAULTS = ("429", "500", "503", "stall")
DEFAULT_REFLECTION = {
    "analysis": "ordinary text",
    "reflection_1p": "I read this as ordinary writing and simply keep reading with interest [7.4].",
    "reflection_3p": "The persona reads this as ordinary writing and keeps reading with interest [7.4].",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class FakeServerStats:
    requests: int = 0
    faults: Counter = field(default_factory=Counter)
    successes: Counter = field(default_factory=Counter)  # per document key
    authorization: Counter = field(default_factory=Counter)  # Authorization headers received
    tokenized: list[int] = field(default_factory=list)  # the count each /tokenize request answered


def prompt_words(payload: dict) -> int:
    """The prompt's length in this server's tokens: whitespace-separated words of every message (or the prompt)."""
    if "messages" in payload:
        return sum(len(str(m.get("content", "")).split()) for m in payload["messages"])
    return len(str(payload.get("prompt", "")).split())


def document_key(payload: dict) -> str:
    """The identity of the document a request is about: hash of the last message (chat) or the prompt."""
    text = payload["messages"][-1]["content"] if "messages" in payload else str(payload.get("prompt", ""))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class FakeOpenAIServer:
    """Start with ``with FakeOpenAIServer(port=...) as server: server.base_url``; runs in a background thread."""

    def __init__(
        self,
        port: int,
        fault_rate: float = 0.0,
        seed: int = 0,
        stall_s: float = 5.0,
        reply: dict | Callable[[dict], str] | None = None,
        delay_s: float = 0.0,
        fail_after: int | None = None,
        max_model_len: int | None = None,
        tokenize: bool = False,
    ):
        """``reply``: the answer's JSON object, or a function of the request payload returning the answer text.
        ``delay_s``: how long each successful answer takes (the loop keeps serving other requests meanwhile).
        ``fail_after``: after that many successful answers, answer 503 to everything until ``recover()`` (an
        outage in the middle of a job).
        ``max_model_len``: as vLLM, report it in ``/v1/models`` and answer 400 "maximum context length" to a request
        whose prompt (in words, this server's tokens) plus ``max_tokens`` exceeds it. ``tokenize``: serve vLLM's
        ``/tokenize`` route (``{"count": words}``)."""
        self.fail_after = fail_after
        self.max_model_len = max_model_len
        self.tokenize = tokenize
        self.down = False
        self.port = port
        self.fault_rate = fault_rate
        self.stall_s = stall_s
        self.reply = reply if callable(reply) else json.dumps(reply or DEFAULT_REFLECTION)
        self.delay_s = delay_s
        self.stats = FakeServerStats()
        self._rng = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_post("/v1/completions", self._handle)
        app.router.add_get("/v1/models", self._models)
        if self.tokenize:
            app.router.add_post("/tokenize", self._tokenize)
        return app

    async def _models(self, request: web.Request) -> web.Response:
        entry = {"id": "fake", "object": "model"}
        if self.max_model_len is not None:
            entry["max_model_len"] = self.max_model_len
        return web.json_response({"object": "list", "data": [entry]})

    async def _tokenize(self, request: web.Request) -> web.Response:
        body = {"count": prompt_words(await request.json())}
        self.stats.tokenized.append(body["count"])
        if self.max_model_len is not None:
            body["max_model_len"] = self.max_model_len
        return web.json_response(body)

    async def _handle(self, request: web.Request) -> web.Response:
        payload = await request.json()
        self.stats.requests += 1
        self.stats.authorization[request.headers.get("Authorization")] += 1
        if self.fail_after is not None and sum(self.stats.successes.values()) >= self.fail_after:
            self.down = True
        if self.down:
            self.stats.faults["outage"] += 1
            return web.Response(status=503, text="outage")
        if self.fault_rate and self._rng.random() < self.fault_rate:
            fault = self._rng.choice(FAULTS)
            self.stats.faults[fault] += 1
            if fault == "stall":
                await asyncio.sleep(self.stall_s)
                return web.Response(status=504)
            headers = {"Retry-After": "0"} if fault == "429" else {}
            return web.Response(status=int(fault), text=f"injected {fault}", headers=headers)
        if self.max_model_len is not None:
            need = prompt_words(payload) + int(payload.get("max_tokens") or 0)
            if need > self.max_model_len:
                self.stats.faults["too_long"] += 1
                message = (
                    f"This model's maximum context length is {self.max_model_len} tokens. However, you requested "
                    f"{need} tokens. Please reduce the length of the messages or completion."
                )
                return web.json_response({"object": "error", "message": message, "code": 400}, status=400)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.stats.successes[document_key(payload)] += 1
        content = self.reply(payload) if callable(self.reply) else self.reply
        if "messages" in payload:
            choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        else:
            choice = {"index": 0, "text": content, "finish_reason": "stop"}
        usage = {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140}
        body = {
            "id": "fake",
            "object": "chat.completion",
            "model": payload.get("model"),
            "choices": [choice],
            "usage": usage,
        }
        return web.json_response(body)

    def recover(self) -> None:
        """End an outage: answer normally from now on."""
        self.fail_after = None
        self.down = False

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def __enter__(self) -> FakeOpenAIServer:
        self._loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError(f"fake OpenAI server did not start on port {self.port}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--fault_rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    server = FakeOpenAIServer(args.port, args.fault_rate, args.seed)
    web.run_app(server.app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
