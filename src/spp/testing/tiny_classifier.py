"""A tiny text classifier built from config (random weights), for tests and benchmarks of the ``transformers`` scorer.

It is not a harm classifier: its scores are arbitrary but deterministic. Six labels ``LABEL_0``..``LABEL_5`` like
SafeLM's, a word-level tokenizer over ``words`` (unknown words map to ``[UNK]``), a 2-layer BERT.
"""

from __future__ import annotations

import re
from pathlib import Path


def build_tiny_classifier(directory: str | Path, words: list[str], num_labels: int = 6, seed: int = 0) -> Path:
    """Save a randomly initialised sequence classifier and its tokenizer to ``directory``; returns it."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    vocab = {w: i for i, w in enumerate(dict.fromkeys([*specials, *(w.lower() for w in words)]))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=1024,
        num_labels=num_labels,
        id2label={i: f"LABEL_{i}" for i in range(num_labels)},
        label2id={f"LABEL_{i}": i for i in range(num_labels)},
        pad_token_id=0,
    )
    model = BertForSequenceClassification(config)
    directory = Path(directory)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def vocabulary(texts: list[str], size: int = 5000) -> list[str]:
    """The ``size`` most frequent lower-cased words of ``texts``."""
    from collections import Counter

    counts = Counter(w.lower() for t in texts for w in re.findall(r"\w+|[^\w\s]", t))
    return [w for w, _ in counts.most_common(size)]
