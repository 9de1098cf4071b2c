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


def build_tiny_causal_lm(directory: Path, texts: list[str]) -> Path:
    """Save a randomly initialised ``tiny``-spec Llama and its tokenizer to ``directory``."""
    from spp.pretrain.specs import build_model

    tokenizer = train_tiny_tokenizer(texts)
    model = build_model("tiny", tokenizer, seed=0)
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
