"""The augmented corpus as pretraining reads it: its contract, loaded with its block format, split into held-out and
training rows, and tokenized once into the token cache that every arm shares.

The corpus owns the reflection contract (``spp.contract``): ``with_corpus_contract`` fills a run's ``seq_len`` and
``reflection_budget`` from the corpus's ``spp.json`` and refuses a value that differs from it.

Order: rows ``[0, heldout_documents)`` are held out (the same rows in every arm); the rest are shuffled with
``seed`` (a permutation for an on-disk corpus, a seeded buffer for a streamed one) or kept in stored order.
"""

from __future__ import annotations

import glob
import json
import logging
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from spp.contract import BlockFormat, ReflectionContract, block_format_of, inherit_contract
from spp.errors import SppConfigError
from spp.metadata import read_metadata
from spp.pretrain.documents import tokenize_batch
from spp.pretrain.tokenizer import marker_ids, tokenizer_fingerprint

logger = logging.getLogger("spp.pretrain")
CACHE_INFO = "spp_token_cache.json"
CACHE_FORMAT = 2  # 2: both placements' blocks, token ids as uint16/uint32


def with_corpus_contract(data):
    """``data`` (``SPPDataArguments``) with ``seq_len`` and ``reflection_budget`` read from the corpus's ``spp.json``
    where not set (``spp.contract.inherit_contract``; a value set that differs from the recorded one is
    ``SppConfigError``); a corpus that records no contract gives the contract's defaults, logged."""
    path = Path(data.dataset_path)
    folder = path if path.is_dir() else path.parent
    meta = read_metadata(folder)
    recorded = meta.details.get("contract") if meta is not None else None
    given = {"seq_len": data.seq_len, "reflection_budget": data.reflection_budget}
    sizes = inherit_contract(
        recorded if isinstance(recorded, dict) else None,
        given,
        source=str(folder / "spp.json"),
        fix="leave seq_len and reflection_budget out (pretraining reads them from the corpus), or re-run spp "
        "augment with the values you want",
    )
    defaults = ReflectionContract()
    unset = [name for name, value in sizes.items() if value is None]
    if unset:
        sizes = {name: getattr(defaults, name) if value is None else value for name, value in sizes.items()}
        logger.warning("%s records no %s: using %s", folder, " or ".join(unset), sizes)
    ReflectionContract(**sizes)  # the one rule: 0 <= reflection_budget < seq_len - 1
    return replace(data, **sizes)


def load_corpus(path: str | Path, streaming: bool = False):
    """The corpus at ``path`` (a ``save_to_disk`` folder, a folder of parquet shards, or a parquet glob) and the
    ``BlockFormat`` of its ``spp.json`` (the default one, with a warning, when it has none)."""
    import datasets

    path = Path(path)
    if (path / "state.json").is_file() or (path / "dataset_dict.json").is_file():
        try:
            corpus = datasets.load_from_disk(str(path))
        except (KeyError, ValueError, OSError) as err:  # a truncated or hand-made state.json
            raise SppConfigError(
                f"not a readable save_to_disk dataset ({type(err).__name__}: {err})",
                source=path,
                field="dataset_path",
                fix="give spp augment's output folder (or parquet shards)",
            ) from err
        if isinstance(corpus, datasets.DatasetDict):
            corpus = corpus["train"]
        corpus = corpus.to_iterable_dataset() if streaming else corpus
    else:
        files = sorted(str(p) for p in path.glob("**/*.parquet")) if path.is_dir() else sorted(glob.glob(str(path)))
        if not files:
            raise SppConfigError("no dataset found", source=path, fix="give a save_to_disk folder or parquet shards")
        corpus = datasets.load_dataset("parquet", data_files=files, split="train", streaming=streaming)
    block_format = block_format_of(read_metadata(path if path.is_dir() else path.parent))
    if block_format is None:
        logger.warning("%s has no spp.json block_format; using the default markers %s", path, BlockFormat())
        return corpus, BlockFormat()
    return corpus, block_format


def token_dtype(tokenizer) -> str:
    """The narrowest unsigned type that holds every token id: uint16 up to 65,536 ids, else uint32."""
    return "uint16" if len(tokenizer) <= 2**16 else "uint32"


def tokenized_features(tokenizer):
    """``datasets.Features`` of ``TOKENIZED_COLUMNS`` with token ids at ``token_dtype`` (not int64: 4x smaller)."""
    from datasets import Features, List, Value

    ids = List(Value(token_dtype(tokenizer)))
    return Features(
        {
            "id": Value("string"),
            "doc_ids": ids,
            "n_tokens": Value("int64"),
            "harm_score": Value("float64"),
            "pause": Value("int64"),
            "block_ids": ids,
            "end_pause": Value("int64"),
            "end_block_ids": ids,
        }
    )


def tokenize_corpus(corpus, tokenizer, block_format: BlockFormat, voice: str, num_proc: int | None = None):
    """``corpus`` mapped to tokenized documents (lazily when streamed), token ids at ``token_dtype``."""
    function = partial(
        tokenize_batch, tokenizer=tokenizer, voice=voice, marker_ids=marker_ids(tokenizer, block_format)
    )
    kwargs: dict[str, Any] = {"batched": True, "remove_columns": list(corpus.column_names or [])}
    if num_proc and hasattr(corpus, "num_rows"):
        kwargs["num_proc"] = num_proc
    return corpus.map(function, features=tokenized_features(tokenizer), **kwargs)


def cached_tokenized_corpus(corpus, tokenizer, block_format: BlockFormat, voice: str, cache_dir, num_proc=None):
    """The tokenized corpus from ``cache_dir``, built and saved there first when absent or stale.

    The cache is keyed by the corpus fingerprint, the tokenizer and the voice; it is arm-independent (one cache
    serves every arm and both placements). Call it under ``main_process_first()`` in distributed runs.
    """
    import datasets

    cache_dir = Path(cache_dir)
    key = {
        "format": CACHE_FORMAT,
        "corpus": getattr(corpus, "_fingerprint", None),
        "rows": len(corpus),
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "voice": voice,
        "block_format": [block_format.marker, block_format.end_marker],
    }
    info = cache_dir / CACHE_INFO
    if info.is_file() and json.loads(info.read_text()) == key:
        return datasets.load_from_disk(str(cache_dir / "data"))
    logger.info("building the token cache in %s (%d rows)", cache_dir, len(corpus))
    tokenized = tokenize_corpus(corpus, tokenizer, block_format, voice, num_proc)
    tokenized.save_to_disk(str(cache_dir / "data"))
    info.write_text(json.dumps(key, indent=2) + "\n")
    return datasets.load_from_disk(str(cache_dir / "data"))


def split_and_order(dataset, heldout_documents: int, seed: int, shuffle: bool, shuffle_buffer: int = 10_000):
    """``(train, heldout)``: the first ``heldout_documents`` rows, and the rest in the training order."""
    if hasattr(dataset, "num_rows"):
        n = len(dataset)
        if heldout_documents >= n:
            raise SppConfigError(
                f"heldout_documents ({heldout_documents}) >= corpus rows ({n})", field="heldout_documents"
            )
        heldout = dataset.select(range(heldout_documents))
        train = dataset.select(range(heldout_documents, n))
        return (train.shuffle(seed=seed) if shuffle else train), heldout
    heldout, train = dataset.take(heldout_documents), dataset.skip(heldout_documents)
    return (train.shuffle(seed=seed, buffer_size=shuffle_buffer) if shuffle else train), heldout
