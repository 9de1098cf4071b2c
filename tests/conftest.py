"""Shared fixtures: tiny models and tokenizers built locally (no Hub, no downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spp.testing.fake_openai import free_port

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def train_tiny_tokenizer(texts: list[str], vocab_size: int = 400):
    """A byte-level BPE tokenizer trained on ``texts``, with chat special tokens and a chat template."""
    from spp.pretrain.tokenizer import train_tokenizer

    specials = ("<|endoftext|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
    tokenizer = train_tokenizer(texts, vocab_size, special_tokens=specials, pad_token="<|pad|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_causal_lm(directory: Path, texts: list[str], max_positions: int | None = None) -> Path:
    """Save a randomly initialised ``tiny``-spec Llama and its tokenizer to ``directory`` (``max_positions``: a longer
    context than the spec's 4,096 positions)."""
    from dataclasses import replace

    from spp.pretrain.specs import build_model, get_model_spec

    tokenizer = train_tiny_tokenizer(texts)
    spec = get_model_spec("tiny")
    if max_positions is not None:
        spec = replace(spec, max_position_embeddings=max_positions)
    model = build_model(spec, tokenizer, seed=0)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_chat_model(tmp_path_factory) -> Path:
    """A tiny chat model directory (random weights, tokenizer trained on the constitution text)."""
    from spp.persona import load_constitution

    text = load_constitution().render()
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-chat-model"), text.split("\n"))


@pytest.fixture(scope="session")
def long_context_chat_model(tmp_path_factory) -> Path:
    """``tiny_chat_model`` with 16,384 positions: spp's generator prompt (~5.9k tokens in its tokenizer) fits."""
    from spp.persona import load_constitution

    texts = load_constitution().render().split("\n")
    return build_tiny_causal_lm(tmp_path_factory.mktemp("long-chat-model"), texts, max_positions=16_384)


@pytest.fixture(scope="session", autouse=True)
def spp_cache(tmp_path_factory) -> Path:
    """spp's own cache (``spp STAGE --help`` texts) in a folder of the test session, never the user's."""
    import os

    folder = tmp_path_factory.mktemp("spp-cache")
    previous = os.environ.get("SPP_CACHE")
    os.environ["SPP_CACHE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("SPP_CACHE", None)
    else:
        os.environ["SPP_CACHE"] = previous


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def release(tmp_path_factory):
    """Tiny stand-ins of the SPP authors' release (``spp.testing.release``): five instruct and five base models as
    local exports under the registry's repo ids, no spp.json, and a stub of the Hub boundary serving the same files."""
    from spp.testing.release import build_release

    return build_release(tmp_path_factory.mktemp("release"))


@pytest.fixture
def hub(release, monkeypatch):
    """The stand-ins served through ``HfApi.model_info``/``list_repo_refs`` and ``snapshot_download`` (stubbed)."""
    release.hub.calls.clear()
    return release.hub.install(monkeypatch)
