"""The generator prompt against the server's model length: refused before any request when no document could fit,
recorded as ``prompt_too_long`` (never retried, no "rerun" hint) when one document's prompt is too long."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
from datasets import Dataset, load_from_disk

from spp.cli import main as spp_main
from spp.errors import SppConfigError
from spp.generate import GeneratorConfig
from spp.generate.prompt_length import check_prompt_length
from spp.generate.server_pool import PROMPT_TOO_LONG, ServerConfig, ServerPool
from spp.persona import PromptRenderer, load_constitution, load_persona
from spp.testing.fake_openai import FakeOpenAIServer, prompt_words

MAX_NEW = 16


@pytest.fixture(scope="module")
def shared_words() -> int:
    """The prompt every request shares, in the fake server's tokens (words)."""
    renderer = PromptRenderer(load_constitution(), load_persona())
    return prompt_words({"messages": renderer.messages("", 0)})


def corpus(tmp_path, long_ids: set[int]) -> str:
    texts = [f"An ordinary note number {i} about the weather and the market." for i in range(12)]
    for i in long_ids:
        texts[i] = " ".join(f"word{j}" for j in range(1500))
    path = tmp_path / "c.jsonl"
    Dataset.from_dict({"id": [f"d{i}" for i in range(12)], "text": texts}).to_json(str(path))
    return str(path)


def augment_args(tmp_path, url: str, *extra: str) -> list[str]:
    return ["augment", "--dataset", corpus(tmp_path, {2, 5}), "--output_dir", str(tmp_path / "out"),
            "--progress", "false", "--backend", "openai", "--model", "fake", "--base_urls", url,
            "--selection", "all", "--placement", "end", "--max_new_tokens", str(MAX_NEW), "--chunk_size", "4",
            "--max_tries", "4", "--backoff_base_s", "0.01", *extra]  # fmt: skip


def test_a_server_whose_model_length_cannot_hold_the_prompt_stops_augment_before_any_request(
    tmp_path, port, capsys, shared_words
):
    limit = shared_words  # the shared prompt fits, with no room for the answer
    with FakeOpenAIServer(port, max_model_len=limit, tokenize=True) as server:
        rc = spp_main(augment_args(tmp_path, server.base_url))
    err = capsys.readouterr().err
    assert rc == 2, err
    assert server.stats.requests == 0 and len(server.stats.tokenized) == 1
    counted = server.stats.tokenized[0]  # augment's own prompt: its template differs a little from the fixture's
    assert shared_words <= counted < shared_words + 100
    paragraph = " ".join(err.split())
    assert f"the generator prompt has {counted} tokens" in paragraph
    assert f"at least {counted + MAX_NEW} tokens" in paragraph and f"takes at most {limit}" in paragraph
    assert "/v1/models" in paragraph and "--max-model-len" in paragraph
    assert not (tmp_path / "out" / "dataset_info.json").exists()


def test_a_prompt_the_server_refuses_as_too_long_fails_once_and_the_hint_does_not_say_rerun(
    tmp_path, port, capsys, shared_words
):
    limit = shared_words + MAX_NEW + 400  # room for a short document, not for a 1,500-word one
    with FakeOpenAIServer(port, max_model_len=limit, tokenize=True) as server:
        rc = spp_main(augment_args(tmp_path, server.base_url, "--max_failed_share", "0.1"))
    err = capsys.readouterr().err
    assert rc == 3, err
    assert server.stats.faults == {"too_long": 2} and server.stats.requests == 12  # each document once
    assert "2 failed as prompt_too_long" in err and "rerunning cannot help" in err
    assert "rerun the same command" not in err


def test_prompt_too_long_rows_are_merged_as_failed_with_their_reason(tmp_path, port, shared_words):
    limit = shared_words + MAX_NEW + 400
    with FakeOpenAIServer(port, max_model_len=limit):  # no /tokenize: the shared prompt is not counted up front
        rc = spp_main(augment_args(tmp_path, f"http://127.0.0.1:{port}/v1", "--max_failed_share", "1"))
    assert rc == 0
    data = load_from_disk(str(tmp_path / "out"))
    assert Counter(data["end_reflection_status"]) == {"ok": 10, "failed": 2}  # the end placement's columns
    assert [data[i]["end_reflection_reason"] for i in (2, 5)] == [PROMPT_TOO_LONG] * 2
    details = json.loads((tmp_path / "out" / "spp.json").read_text())["details"]
    assert details["failed"] == {PROMPT_TOO_LONG: 2}


def test_the_prompt_is_counted_with_prompt_tokenizer_when_the_server_has_no_tokenize_route(tmp_path, port):
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from conftest import train_tiny_tokenizer

    renderer = PromptRenderer(load_constitution(), load_persona())
    tokenizer = train_tiny_tokenizer(renderer.system_prompt().split("\n"))
    tokenizer.save_pretrained(tmp_path / "tok")
    counted = len(tokenizer.apply_chat_template(renderer.messages("", 0), add_generation_prompt=True)["input_ids"])
    with FakeOpenAIServer(port, max_model_len=counted + MAX_NEW) as server:
        pool = ServerPool(ServerConfig([server.base_url]))
        fits = GeneratorConfig(backend="openai", model="fake", max_new_tokens=MAX_NEW, prompt_tokenizer=str(tmp_path / "tok"))
        check_prompt_length(pool, fits, renderer)
        too_long = GeneratorConfig(**{**fits.__dict__, "max_new_tokens": MAX_NEW + 1})
        with pytest.raises(SppConfigError, match=f"has {counted} tokens .* takes at most {counted + MAX_NEW}"):
            check_prompt_length(pool, too_long, renderer)
    assert server.stats.requests == 0
