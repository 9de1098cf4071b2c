"""The training tokenizer: any HF tokenizer, with the EOS the recipe names and the reflection markers added."""

from __future__ import annotations

import hashlib

from spp.contract import BlockFormat, marker_token_ids
from spp.errors import SppConfigError


def prepare_tokenizer(tokenizer, block_format: BlockFormat, eos_token: str | None = None):
    """Set ``eos_token`` (when given) and add the block's marker and end marker as special tokens, in place.

    The SmolLM2 recipe sets ``eos_token: <|endoftext|>`` (id 0), as the SPP authors did. A tokenizer without a pad
    token pads with EOS (padding never carries loss: the packer masks it by position, not by id).
    """
    if eos_token is not None:
        if tokenizer.convert_tokens_to_ids(eos_token) in (None, tokenizer.unk_token_id):
            raise SppConfigError(f"eos_token {eos_token!r} is not in the tokenizer's vocabulary", field="eos_token")
        tokenizer.eos_token = eos_token
    if tokenizer.eos_token_id is None:
        raise SppConfigError("the tokenizer has no EOS token", field="eos_token", fix="set eos_token in the recipe")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    markers = [m for m in (block_format.marker, block_format.end_marker) if m]
    tokenizer.add_special_tokens({"additional_special_tokens": markers}, replace_extra_special_tokens=False)
    return tokenizer


def load_tokenizer(name_or_path: str, block_format: BlockFormat, eos_token: str | None = None):
    """``AutoTokenizer.from_pretrained(name_or_path)`` prepared with ``prepare_tokenizer``."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except OSError as err:
        raise SppConfigError(
            f"cannot load tokenizer {name_or_path!r} ({err.__class__.__name__})",
            field="tokenizer_name_or_path",
            fix="give a local tokenizer directory or a Hub id reachable from this machine",
        ) from err
    return prepare_tokenizer(tokenizer, block_format, eos_token)


def marker_ids(tokenizer, block_format: BlockFormat) -> tuple[int, int | None]:
    """Token ids of the marker and end marker (``None``: no end marker); see ``spp.contract.marker_token_ids``."""
    return marker_token_ids(tokenizer, block_format)


def tokenizer_fingerprint(tokenizer) -> str:
    """sha256 of the tokenizer's full definition (vocabulary, merges, added tokens) and EOS: keys token caches."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    body = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(f"{body}|eos={tokenizer.eos_token_id}".encode()).hexdigest()[:16]


def train_tokenizer(
    texts: list[str],
    vocab_size: int = 512,
    special_tokens: tuple[str, ...] = ("<|endoftext|>",),
    pad_token: str | None = None,
):
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``texts``; ``special_tokens[0]`` is EOS/BOS (id 0).

    For the tiny demo and tests: a real recipe loads the SmolLM2 tokenizer instead.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    eos = special_tokens[0]
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, bos_token=eos, pad_token=pad_token or eos)
