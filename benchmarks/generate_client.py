"""Throughput of the ``openai`` generator client against a loopback server that answers instantly.

The server (``python -m spp.testing.fake_openai``) runs in its own process(es); the client is one process with
validation and retries on, sending the real spp prompt (constitution + persona, ~11 KB per request). Prints
requests/s, client-side overhead per request (prompt rendering, JSON encoding, response parsing and validation;
time waiting on the network excluded) at p50/p99, and, for reference, a bare aiohttp client's requests/s against
the same server, which shows how much of the ceiling is the server's.

    python benchmarks/generate_client.py --documents 20000 --concurrency 64 --servers 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _env import describe  # noqa: E402

from spp.generate import GeneratorConfig, ReflectionRequest, build_generator  # noqa: E402
from spp.persona import PromptRenderer, load_constitution, load_persona  # noqa: E402
from spp.testing.fake_openai import free_port  # noqa: E402


def start_servers(n: int) -> tuple[list[subprocess.Popen], list[str]]:
    procs, urls = [], []
    for _ in range(n):
        port = free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "spp.testing.fake_openai", "--port", str(port)]))
        urls.append(f"http://127.0.0.1:{port}/v1")
    for url in urls:
        for _ in range(100):
            try:
                urllib.request.urlopen(urllib.request.Request(url + "/completions", data=b'{"prompt": ""}'), timeout=1)
                break
            except OSError:
                time.sleep(0.1)
    return procs, urls


def documents(n: int) -> list[ReflectionRequest]:
    base = "The committee met on Tuesday to discuss the harbour budget, the ferry timetable and the new library. "
    return [ReflectionRequest(f"doc-{i}", f"{i} {base * 4}", 300) for i in range(n)]


async def bare_aiohttp(urls: list[str], n: int, concurrency: int, body: bytes) -> float:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        counter = iter(range(n))

        async def worker() -> None:
            for i in counter:
                async with session.post(urls[i % len(urls)] + "/chat/completions", data=body) as response:
                    await response.read()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--servers", type=int, default=1)
    args = parser.parse_args()

    renderer = PromptRenderer(load_constitution(), load_persona())
    requests = documents(args.documents)
    procs, urls = start_servers(args.servers)
    try:
        config = GeneratorConfig(
            backend="openai",
            model="fake",
            base_urls=urls,
            max_concurrency=args.concurrency,
            max_tries=4,
            request_timeout_s=30,
        )
        generator = build_generator(config, renderer)
        generator.generate(requests[:500])  # warm-up: connections, caches
        generator.client_seconds = []
        start = time.perf_counter()
        results = generator.generate(requests)
        wall = time.perf_counter() - start
        body = json.dumps({"model": "fake", "messages": generator.prompt_messages(requests[0])}).encode()
        bare = asyncio.run(bare_aiohttp(urls, args.documents, args.concurrency, body))
    finally:
        for proc in procs:
            proc.terminate()
    overhead = sorted(generator.client_seconds)
    ok = sum(r.status == "ok" for r in results)
    print(describe("aiohttp"))
    print(
        f"setup: {args.documents} documents, {args.servers} loopback server process(es), "
        f"concurrency {args.concurrency}, validation and retries on, request body {len(body) / 1024:.1f} KiB"
    )
    print(f"spp openai client: {args.documents / wall:,.0f} requests/s ({ok} ok of {len(results)})")
    print(
        f"client overhead per request: p50 {statistics.median(overhead) * 1e6:,.0f} us, "
        f"p99 {overhead[int(0.99 * (len(overhead) - 1))] * 1e6:,.0f} us"
    )
    print(f"bare aiohttp client, same server and body: {bare:,.0f} requests/s")


if __name__ == "__main__":
    main()
