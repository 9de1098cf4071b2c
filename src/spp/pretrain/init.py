"""Continuing from a checkpoint (``init_from``): its weights, config and tokenizer, checked against the corpus.

``spp pretrain --init_from REPO_OR_PATH --init_revision REV [--init_step N]`` starts from a released base (or any
causal LM: a folder, a local export's ref, a Hub revision) instead of a random init of ``model_spec``.

Promises:
- The revision is pinned first (``spp.modeling.source``): an unknown one stops with the refs that exist, before the
  corpus is read or anything is written; the parent (id, revision, resolved sha, step) goes into ``spp.json``.
- The checkpoint's tokenizer is used as it is: the corpus' markers must already be tokens of it (a released
  tokenizer with extra special tokens is never re-extended), and its embeddings must cover every token.
- The corpus' tokenizer (the ``training_tokenizer`` its ``spp.json`` records, prepared as augmentation prepared it)
  must agree with the checkpoint's: same vocabulary size and same marker ids, since reflection budgets and reading
  pauses were measured in its tokens; otherwise ``SppConfigError`` naming both.
- ``init_step`` N: the LR schedule is the recipe's over N + max_steps steps, entered at step N (``shift_schedule``),
  so a WSD decay can start from a released checkpoint of the stable phase.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.persona.render import BlockFormat

logger = logging.getLogger("spp.pretrain")


@dataclass
class InitCheckpoint:
    """The checkpoint a run continues from: pinned source, its tokenizer and model, and its step."""

    source: Any  # spp.modeling.source.ModelSource
    tokenizer: Any
    model: Any
    step: int

    def record(self) -> dict[str, Any]:
        """``spp.json``'s ``lineage.init_from``."""
        return {**self.source.record(), "step": self.step}


def open_init(init_from: str, init_revision: str = "", api: Any = None) -> Any:
    """Pin ``init_from`` at ``init_revision`` (unknown revision: ``SppConfigError`` naming the refs)."""
    from spp.modeling.source import open_model

    return open_model(init_from, init_revision or None, field="init_from", revision_field="init_revision", api=api)


def _marker_ids(tokenizer: Any, block_format: BlockFormat, where: str) -> tuple[int, int | None]:
    markers = [block_format.marker] + ([block_format.end_marker] if block_format.end_marker else [])
    ids = [tokenizer.convert_tokens_to_ids(m) for m in markers]
    missing = [m for m, i in zip(markers, ids, strict=True) if i is None or i == tokenizer.unk_token_id]
    if missing:
        raise SppConfigError(
            f"the corpus' reflection markers {missing} are not tokens of {where}'s tokenizer; a checkpoint's "
            "tokenizer is used as it is (extending it would add untrained embedding rows)",
            field="init_from",
            fix="continue from a checkpoint whose tokenizer has the corpus' markers (the SPP release: <assistant>), "
            "or augment a corpus with that tokenizer's marker (marker: <assistant>, end_marker: '')",
        )
    return ids[0], (ids[1] if len(ids) > 1 else None)


def load_init(source: Any, block_format: BlockFormat, eos_token: str | None, step: int, attn: str) -> InitCheckpoint:
    """The checkpoint's tokenizer (EOS and pad set, nothing added) and its model, in float32 for training."""
    import torch
    from transformers import AutoModelForCausalLM

    from spp.modeling import ModelSettings, check_model, load_tokenizer

    where = f"{source.pinned.reference}@{source.pinned.revision or 'main'}"
    path = str(source.path)
    tokenizer = load_tokenizer(path, ModelSettings(), "init_from")
    if eos_token is not None and tokenizer.convert_tokens_to_ids(eos_token) not in (None, tokenizer.unk_token_id):
        tokenizer.eos_token = eos_token
    if tokenizer.eos_token_id is None:
        raise SppConfigError(f"{where}'s tokenizer has no EOS token", field="eos_token", fix="set eos_token")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    _marker_ids(tokenizer, block_format, where)
    check_model(path, ModelSettings(device="cpu"), "init_from", "causal")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation=attn)
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        raise SppConfigError(
            f"{where}'s tokenizer has {len(tokenizer)} tokens but its model only {rows} embedding rows",
            field="init_from",
            fix="give a checkpoint whose tokenizer and weights belong together",
        )
    model.config.use_cache = False
    logger.info("continuing from %s (sha %s, step %d): %s", where, source.sha, step, type(model).__name__)
    return InitCheckpoint(source, tokenizer, model, step)


def check_corpus_tokenizer(tokenizer: Any, corpus_path: str, block_format: BlockFormat, where: str) -> None:
    """The corpus' recorded training tokenizer agrees with ``tokenizer`` (vocabulary size and marker ids)."""
    from spp.metadata import read_metadata
    from spp.pretrain.tokenizer import load_tokenizer

    path = Path(corpus_path)
    meta = read_metadata(path if path.is_dir() else path.parent)
    recorded = ((meta.details.get("contract") or {}) if meta else {}).get("tokenizer")
    if not recorded:
        logger.warning(
            "the corpus %s records no training tokenizer: cannot check that its reflections were measured in %s's "
            "tokens",
            corpus_path,
            where,
        )
        return
    theirs = load_tokenizer(recorded, block_format)
    mine_ids, their_ids = _marker_ids(tokenizer, block_format, where), _marker_ids(theirs, block_format, recorded)
    if len(tokenizer) != len(theirs) or mine_ids != their_ids:
        raise SppConfigError(
            f"the corpus was augmented for tokenizer {recorded} ({len(theirs)} tokens, markers {their_ids}) but "
            f"init_from {where} has {len(tokenizer)} tokens, markers {mine_ids}: the corpus' reflection budgets and "
            "reading pauses were measured in other tokens",
            field="init_from",
            fix="augment the corpus with training_tokenizer set to the checkpoint (or its tokenizer), or continue from "
            "a checkpoint that uses the corpus' tokenizer",
        )


def _at(schedule: Any, offset: int, step: int) -> float:
    return schedule(step + offset)


def shift_schedule(scheduler: Any, offset: int) -> Any:
    """A ``LambdaLR`` whose step s is ``scheduler``'s step ``s + offset`` (same optimizer, same base LRs)."""
    from torch.optim.lr_scheduler import LambdaLR

    if not isinstance(scheduler, LambdaLR):
        raise SppConfigError(
            f"init_step needs a step-indexed LR schedule; {type(scheduler).__name__} cannot be entered at a step",
            field="lr_scheduler_type",
            fix="use linear, cosine, constant_with_warmup or warmup_stable_decay",
        )
    return LambdaLR(scheduler.optimizer, [partial(_at, f, offset) for f in scheduler.lr_lambdas])
