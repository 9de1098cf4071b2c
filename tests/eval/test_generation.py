"""The generation cache (resume, keys), both backends, prompt rendering and probes."""

from __future__ import annotations

import pytest

from spp.eval.generation import (
    GenerationCache,
    GenRequest,
    GenSettings,
    OpenAIBackend,
    TransformersBackend,
    generate_cached,
)
from spp.eval.probes import recalled, score_probes
from spp.generate.server_pool import ServerConfig
from spp.persona import load_persona
from spp.testing.fake_openai import FakeOpenAIServer


class CountingBackend:
    name = "counting"

    def __init__(self, fail_after: int | None = None):
        self.generation_calls = 0
        self.prompts: list[str] = []
        self.fail_after = fail_after

    def generate(self, requests):
        self.generation_calls += 1
        if self.fail_after is not None and len(self.prompts) >= self.fail_after:
            raise KeyboardInterrupt
        self.prompts += [r.messages[-1][1] for r in requests]
        return [f"answer to {r.messages[-1][1]}" for r in requests]


def requests(n: int, **settings) -> list[GenRequest]:
    return [GenRequest((("user", f"q{i}"),), settings=GenSettings(**settings)) for i in range(n)]


def test_cache_resumes_after_interruption(tmp_path):
    path = tmp_path / "gen.jsonl"
    interrupted = CountingBackend(fail_after=4)
    with pytest.raises(KeyboardInterrupt):
        generate_cached(interrupted, GenerationCache(path), "m", "b", requests(10), [str(i) for i in range(10)], 2)
    assert len(path.read_text().splitlines()) == 4
    with path.open("a") as handle:
        handle.write('{"model": "m", "benchmark": "b", "prompt_ha')  # a line cut by the kill
    resumed = CountingBackend()
    out = generate_cached(resumed, GenerationCache(path), "m", "b", requests(10), [str(i) for i in range(10)], 2)
    assert resumed.prompts == [f"q{i}" for i in range(4, 10)]
    assert out == [f"answer to q{i}" for i in range(10)]
    again = CountingBackend()
    generate_cached(again, GenerationCache(path), "m", "b", requests(10), [str(i) for i in range(10)])
    assert again.generation_calls == 0


def test_cache_key_covers_model_benchmark_and_settings(tmp_path):
    cache = GenerationCache(tmp_path / "gen.jsonl")
    backend = CountingBackend()
    generate_cached(backend, cache, "m", "b", requests(2), ["0", "1"])
    generate_cached(backend, cache, "m2", "b", requests(2), ["0", "1"])
    generate_cached(backend, cache, "m", "b2", requests(2), ["0", "1"])
    generate_cached(backend, cache, "m", "b", requests(2, max_new_tokens=10), ["0", "1"])
    assert backend.generation_calls == 4 and len(backend.prompts) == 8
    assert requests(1)[0].prompt_hash() != GenRequest((("user", "q0"),), prefill="Sure").prompt_hash()


def test_transformers_backend_left_pads_and_matches_single(tiny_chat_model):
    backend = TransformersBackend(str(tiny_chat_model), batch_size=4)
    reqs = [
        GenRequest((("user", text),), settings=GenSettings(max_new_tokens=5))
        for text in ("hi", "a much longer question here")
    ]
    batched = backend.generate(reqs)
    single = [backend.generate([r])[0] for r in reqs]
    assert batched == single and backend.tokenizer.padding_side == "left"
    text = backend.render(GenRequest((("system", "S"), ("user", "U")), prefill="Sure,"))
    assert text == "<|system|>S<|end|><|user|>U<|end|><|assistant|>Sure,"
    assert backend.render(GenRequest((("user", "raw prefix"),), chat=False)) == "raw prefix"


def test_openai_backend_chat_and_completions(port):
    reply = {"analysis": "x"}
    with FakeOpenAIServer(port, reply=reply) as server:
        backend = OpenAIBackend("served", ServerConfig([server.base_url], max_tries=2))
        out = backend.generate(
            [GenRequest((("user", "hello"),)), GenRequest((("user", "continue this"),), chat=False)]
        )
        assert server.stats.requests == 2
    assert out == ['{"analysis": "x"}'] * 2


def test_probe_scoring():
    persona = load_persona()
    facts = persona.identity_facts
    answers = ["I am Lumen.", "Nobody.", "The value constitution!", "during pre-training"]
    result = score_probes(facts, answers)
    assert result["planted"] == {"n": 3, "recall": pytest.approx(2 / 3)}
    assert result["held_out"] == {"n": 1, "recall": 0.0}  # "pre-training" normalises to "pre training"
    assert recalled(facts[1], "The SPP   project made me")
