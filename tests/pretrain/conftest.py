"""Fixtures for spp.pretrain: a small synthetic augmented corpus and its tokenizer, built locally."""

from __future__ import annotations

import pytest

from spp.pretrain.data import DocumentStream, PackedArm, load_corpus, split_and_order
from spp.pretrain.demo import write_demo_corpus
from spp.pretrain.packing import PackingStats, tokenize_batch
from spp.pretrain.tokenizer import load_tokenizer, marker_ids


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory):
    return write_demo_corpus(tmp_path_factory.mktemp("corpus"), rows=160, seed=3, reflection_rate=0.5)


@pytest.fixture(scope="session")
def corpus(corpus_dir):
    return load_corpus(corpus_dir)


@pytest.fixture(scope="session")
def tokenizer(corpus_dir, corpus):
    return load_tokenizer(str(corpus_dir / "tokenizer"), corpus[1], eos_token="<|endoftext|>")


def _packed(corpus, tokenizer, view, *, seq_len=128, budget=48, heldout=0, shuffle=True, seed=0, layout="dense"):
    """The PackedArm of ``view`` over the fixture corpus, without a trainer."""
    dataset, block_format = corpus
    tokenize = lambda batch: tokenize_batch(batch, tokenizer, "1p", marker_ids(tokenizer, block_format))  # noqa: E731
    train, _ = split_and_order(dataset, heldout, seed, shuffle)
    return PackedArm(
        DocumentStream(train, tokenize, batch_size=32),
        view,
        seq_len=seq_len,
        reflection_budget=budget,
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id,
        layout=layout,
    )


@pytest.fixture(scope="session")
def make_arm(corpus, tokenizer):
    """``make_arm(view, seq_len=128, budget=48, heldout=0, shuffle=True, seed=0)``: a PackedArm of the corpus."""
    return lambda view, **kwargs: _packed(corpus, tokenizer, view, **kwargs)


def windows_and_stats(arm: PackedArm):
    stats = PackingStats()
    return list(arm.windows(stats)), stats


@pytest.fixture(scope="session")
def pack():
    """``pack(arm) -> (windows, stats)``."""
    return windows_and_stats
