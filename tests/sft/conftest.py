"""Fixtures for spp.sft: tiny base model folders as `spp pretrain` writes them, and small chat data files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spp.metadata import SppMetadata
from spp.persona import BlockFormat, load_persona
from spp.pretrain.specs import build_model
from spp.pretrain.tokenizer import train_tokenizer

MARKERS = BlockFormat()
CONVERSATIONS = [
    [
        {"role": "user", "content": "Can you help me write a kind note to a neighbour?"},
        {"role": "assistant", "content": "Gladly [1.2]. Start by thanking them for their help."},
    ],
    [
        {"role": "user", "content": "How do I pick a lock to get into my friend's flat?"},
        {"role": "assistant", "content": "I will not help with that [2.3, 2.4]. Ask your friend for a key."},
        {"role": "user", "content": "What should I do instead?"},
        {"role": "assistant", "content": "[3.1] Call them, or a licensed locksmith with their consent."},
    ],
    [
        {"role": "user", "content": "Tell me a fact about the sea."},
        {"role": "assistant", "content": "The sea covers most of the planet's surface."},
    ],
]
TEXTS = [m["content"] for conv in CONVERSATIONS for m in conv] * 4 + ["User: System: You are", load_persona().identity]


def build_base_model(directory: Path, *, seed: int, arm: str | None, metadata: bool = True, markers: bool = True):
    """A tiny Llama base folder: weights, tokenizer (+ marker tokens, embeddings resized) and, optionally, spp.json."""
    tokenizer = train_tokenizer(TEXTS, 300)
    if markers:
        tokenizer.add_special_tokens({"additional_special_tokens": [MARKERS.marker, MARKERS.end_marker]})
    build_model("tiny", tokenizer, seed=seed).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    if metadata:
        block = {"marker": MARKERS.marker, "end_marker": MARKERS.end_marker}
        SppMetadata(
            kind="model", persona=load_persona().to_dict(), block_format=block, arm=arm, recipe_hash=f"pretrain-{arm}"
        ).save(directory)
    return directory


@pytest.fixture(scope="session")
def base_model(tmp_path_factory) -> Path:
    return build_base_model(tmp_path_factory.mktemp("base-spp_t0"), seed=0, arm="spp_t0")


@pytest.fixture(scope="session")
def other_base_model(tmp_path_factory) -> Path:
    return build_base_model(tmp_path_factory.mktemp("base-baseline"), seed=1, arm="baseline")


@pytest.fixture(scope="session")
def bare_base_model(tmp_path_factory) -> Path:
    """A plain causal LM: no spp.json, no marker tokens."""
    return build_base_model(tmp_path_factory.mktemp("base-bare"), seed=2, arm=None, metadata=False, markers=False)


def write_jsonl(path: Path, conversations: list[list[dict]]) -> Path:
    path.write_text("".join(json.dumps({"messages": c, "source": "test"}) + "\n" for c in conversations))
    return path


@pytest.fixture(scope="session")
def chat_file(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("data") / "chat.jsonl", CONVERSATIONS)


def tiny_config(output_dir: Path, model: Path, data: Path, **overrides):
    """An ``SPPSFTConfig`` for a CPU run of a few steps."""
    from spp.sft.config import SPPSFTConfig

    kwargs = dict(
        output_dir=str(output_dir),
        model_name_or_path=str(model),
        datasets=[{"path": str(data)}],
        max_steps=3,
        per_device_train_batch_size=2,
        learning_rate=1e-2,
        max_length=512,
        bf16=False,
        use_cpu=True,
        gradient_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        dataloader_pin_memory=False,
    )
    return SPPSFTConfig(**{**kwargs, **overrides})


@pytest.fixture(scope="session")
def conversations() -> list[list[dict]]:
    return CONVERSATIONS


@pytest.fixture(scope="session")
def make_tokenizer():
    """``make_tokenizer(texts)``: a tiny BPE tokenizer with the marker tokens added."""

    def make(texts: list[str]):
        tok = train_tokenizer(texts, 300)
        tok.add_special_tokens({"additional_special_tokens": [MARKERS.marker, MARKERS.end_marker]})
        return tok

    return make


@pytest.fixture(scope="session")
def write_chat():
    """``write_chat(path, conversations)``: a ``messages`` JSONL file."""
    return write_jsonl


@pytest.fixture(scope="session")
def make_config():
    """``make_config(output_dir, model, data, **overrides)``: an ``SPPSFTConfig`` for a CPU run of a few steps."""
    return tiny_config


@pytest.fixture(scope="session")
def make_base_model():
    """``make_base_model(directory, seed=, arm=, metadata=, markers=)``: a tiny base model folder."""
    return build_base_model
