"""The openai backend against real HTTP servers on loopback: faults, retries, exactly-once success, real server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from spp.generate import GeneratorConfig, ReflectionRequest, build_generator
from spp.generate.server_pool import parse_retry_after
from spp.persona import PromptRenderer, load_constitution, load_persona
from spp.testing.fake_openai import FakeOpenAIServer


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
def test_real_transformers_serve_server(renderer, tiny_chat_model, port, tmp_path):
    """`transformers serve` on a tiny random model: a real OpenAI-compatible server, garbage answers."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [
        sys.executable,
        "-m",
        "transformers.cli.transformers",
        "serve",
        str(tiny_chat_model),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--device",
        "cpu",
    ]
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - the server process writes to it until terminated
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                time.sleep(0.5)
        else:
            pytest.fail("transformers serve did not come up:\n" + (tmp_path / "serve.log").read_text())
        config = client_config(
            f"http://127.0.0.1:{port}/v1",
            model=str(tiny_chat_model),
            max_new_tokens=16,
            request_timeout_s=60,
            max_concurrency=4,
            top_k=-1,
            presence_penalty=0.0,
        )
        results = build_generator(config, renderer).generate(requests_for(4))
    finally:
        proc.terminate()
        proc.wait(30)
    statuses = [r.status for r in results]
    assert len(statuses) == 4 and set(statuses) <= {"ok", "rejected", "failed"}
    # A random 2-layer model answers, but not with a valid reflection: the validator rejects it, with the raw text.
    assert statuses == ["rejected"] * 4, [(r.status, r.reason) for r in results]
    assert all(r.raw_response is not None and r.tokens_out > 0 for r in results)
