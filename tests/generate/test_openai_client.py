"""The openai backend against real HTTP servers on loopback: faults, retries, exactly-once success, real server."""

from __future__ import annotations

import time

import pytest

from spp.generate import GeneratorConfig, ReflectionRequest, build_generator
from spp.generate.server_pool import parse_retry_after
from spp.persona import PromptRenderer, load_constitution, load_persona
from spp.testing.fake_openai import FakeOpenAIServer
from spp.testing.serve import transformers_serve


@pytest.fixture(scope="module")
def renderer() -> PromptRenderer:
    return PromptRenderer(load_constitution(), load_persona())


def requests_for(n: int) -> list[ReflectionRequest]:
    texts = [f"Document number {i} describes the harbour town and its fishing boats at dawn." for i in range(n)]
    return [ReflectionRequest(f"doc-{i}", t, len(t)) for i, t in enumerate(texts)]


def client_config(server_url: str, **overrides) -> GeneratorConfig:
    values = dict(
        backend="openai",
        model="fake",
        base_urls=[server_url],
        max_concurrency=32,
        request_timeout_s=0.5,
        max_tries=8,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
    )
    values.update(overrides)
    return GeneratorConfig(**values)


def test_injected_faults_every_document_accounted_for_and_generated_once(renderer, port):
    requests = requests_for(300)
    with FakeOpenAIServer(port, fault_rate=0.3, seed=1, stall_s=1.0) as server:
        generator = build_generator(client_config(server.base_url), renderer)
        results = generator.generate(requests)
    stats = server.stats
    assert sum(stats.faults.values()) >= 0.2 * stats.requests
    assert {"429", "500", "503", "stall"} <= set(stats.faults)
    assert [r.doc_id for r in results] == [q.doc_id for q in requests]
    statuses = [r.status for r in results]
    assert len(statuses) == len(requests)
    assert set(statuses) <= {"ok", "rejected", "failed"}
    # Exactly one success per document that got an answer; none answered twice.
    answered = [r for r in results if r.status in ("ok", "rejected")]
    assert max(stats.successes.values()) == 1
    assert len(stats.successes) == len(answered)
    assert statuses.count("ok") == len(answered)  # the fake server's reflection is valid
    assert stats.requests == generator.request_count
    assert any(r.attempts > 1 for r in results)


def test_permanent_faults_fail_with_the_error_recorded(renderer, port):
    with FakeOpenAIServer(port, fault_rate=1.0, seed=2, stall_s=0.3) as server:
        generator = build_generator(client_config(server.base_url, max_tries=3, request_timeout_s=0.1), renderer)
        results = generator.generate(requests_for(20))
    assert [r.status for r in results] == ["failed"] * 20
    assert all(r.attempts == 3 for r in results)
    assert all(r.reason.startswith(("http_429", "http_500", "http_503", "timeout")) for r in results)
    assert server.stats.requests == 60


def test_unreachable_server_fails_after_retries(renderer, port):
    generator = build_generator(client_config(f"http://127.0.0.1:{port}/v1", max_tries=2), renderer)
    results = generator.generate(requests_for(3))
    assert [r.status for r in results] == ["failed"] * 3
    assert all(r.reason.startswith("connection_error") for r in results)


def test_api_key_is_sent_but_never_recorded(renderer, port, monkeypatch, caplog):
    monkeypatch.setenv("SPP_TEST_KEY", "sk-secret-value-123")
    caplog.set_level("DEBUG")
    with FakeOpenAIServer(port, fault_rate=0.5, seed=3, stall_s=0.2) as server:
        generator = build_generator(client_config(server.base_url, api_key_env="SPP_TEST_KEY"), renderer)
        results = generator.generate(requests_for(10))
    assert set(server.stats.authorization) == {"Bearer sk-secret-value-123"}
    assert all("sk-secret" not in repr(r) for r in results)
    assert "sk-secret" not in caplog.text


def test_retry_after_parsing():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_completions_endpoint(renderer, port):
    with FakeOpenAIServer(port) as server:
        generator = build_generator(client_config(server.base_url, endpoint="completions"), renderer)
        results = generator.generate(requests_for(5))
    assert [r.status for r in results] == ["ok"] * 5
    assert results[0].tokens_in == 100 and results[0].tokens_out == 40


@pytest.mark.slow
def test_real_transformers_serve_server(renderer, long_context_chat_model, port, tmp_path):
    """`transformers serve` on a tiny random model, served with --max-model-len 8192: every prompt that fits is
    answered (garbage: rejected by the validator, with its raw text); one whose document pushes it past the server's
    length is refused by the real server and recorded as failed with reason prompt_too_long, after one request."""
    from spp.generate.server_pool import PROMPT_TOO_LONG

    long_text = " ".join(f"harbour{i} boats dawn market" for i in range(1200))  # ~5k tokens more in this tokenizer
    requests = [*requests_for(4), ReflectionRequest("long", long_text, len(long_text))]
    config = client_config(
        "", model=str(long_context_chat_model), max_new_tokens=16, request_timeout_s=600, max_concurrency=4,
        top_k=-1, presence_penalty=0.0, backoff_base_s=0.01,
    )  # fmt: skip
    with transformers_serve(long_context_chat_model, port, tmp_path / "serve.log", extra_args=["--max-model-len", "8192"]) as url:
        config.base_urls = [url]
        generator = build_generator(config, renderer)
        generator.check_reachable()  # transformers serve reports no model length: nothing to refuse here
        results = generator.generate(requests)
    statuses = [r.status for r in results]
    # A random 2-layer model answers, but not with a valid reflection: the validator rejects it, with the raw text.
    assert statuses == ["rejected"] * 4 + ["failed"], [(r.status, r.reason) for r in results]
    assert all(r.raw_response is not None and r.tokens_out > 0 for r in results[:4])
    assert results[4].reason == PROMPT_TOO_LONG and results[4].attempts == 1  # not sent again
    assert generator.pool.errors[(url, PROMPT_TOO_LONG)] == 1


def test_only_set_sampling_fields_are_sent_and_each_server_kind_gets_what_it_accepts(renderer):
    from spp.errors import SppConfigError
    from spp.generate.openai_client import SERVER_KINDS, sampling_fields

    default = sampling_fields(GeneratorConfig(backend="openai", model="m"))
    assert set(default) == {"model", "max_tokens", "temperature", "top_p", "presence_penalty"}  # no top_k
    unset = sampling_fields(GeneratorConfig(backend="openai", model="m", temperature=None, presence_penalty=None))
    assert set(unset) == {"model", "max_tokens", "top_p"}
    for kind, profile in SERVER_KINDS.items():
        config = GeneratorConfig(backend="openai", model="m", server_kind=kind, top_k=20)
        if "top_k" in profile.extra:
            assert sampling_fields(config)["top_k"] == 20
        else:
            with pytest.raises(SppConfigError, match=f"server_kind '{kind}' does not accept top_k"):
                sampling_fields(config)
    assert {k for k, p in SERVER_KINDS.items() if "top_k" in p.extra} == {"vllm", "sglang"}


def test_concurrency_adapts_to_a_sequential_server_instead_of_timing_out(renderer, port):
    """One request at a time, 20 ms each, a 0.5 s timeout: 64 requests at once would time out after the 25th."""
    import asyncio

    from aiohttp import web

    class Sequential(FakeOpenAIServer):
        async def _handle(self, request: web.Request) -> web.Response:
            async with self.lock:
                await asyncio.sleep(0.02)
                return await super()._handle(request)

    with Sequential(port) as server:
        server.lock = asyncio.Lock()
        config = client_config(
            server.base_url, max_concurrency=256, initial_concurrency=64, request_timeout_s=0.5, max_tries=0
        )
        generator = build_generator(config, renderer)
        results = generator.generate(requests_for(100))
    assert [r.status for r in results] == ["ok"] * 100  # timeouts were retried, none failed
    # it backed off from the starting 64 to what the server answers within the timeout (0.5 s / 20 ms = 25)
    assert generator.pool.limit.value <= 25, generator.pool.limit.value


def test_retries_last_for_the_time_budget_not_a_count(renderer, port):
    with FakeOpenAIServer(port, fail_after=0) as server:
        config = client_config(server.base_url, max_tries=0, retry_budget_s=1.0, backoff_max_s=0.1)
        start = time.monotonic()
        results = build_generator(config, renderer).generate(requests_for(3))
        spent = time.monotonic() - start
    assert [r.status for r in results] == ["failed"] * 3 and all(r.reason.startswith("http_503") for r in results)
    assert 0.9 <= spent < 3.0 and min(r.attempts for r in results) >= 8
