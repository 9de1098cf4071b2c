"""From the three configs to a ready run: tokenizer, model, arm view, packed dataset, held-out windows.

The pieces are the public API (``load_corpus``, ``load_tokenizer``, ``build_model``, ``make_view``, ``PackedArm``,
``SPPTrainer``); ``build_run`` is what ``spp pretrain`` composes from a recipe.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from spp.contract import BlockFormat, corpus_fingerprint, data_view_hash
from spp.errors import SppConfigError
from spp.pretrain.arms import LOSS_ON, ArmView, get_arm, make_view
from spp.pretrain.audit import audit_stream, check_audit
from spp.pretrain.config import SPPDataArguments, SPPModelArguments, SPPTrainingArguments
from spp.pretrain.continuation import check_continuation, continued_step
from spp.pretrain.corpus import CACHE_INFO, cached_tokenized_corpus, load_corpus, split_and_order, with_corpus_contract
from spp.pretrain.data import DocumentStream, PackedArm
from spp.pretrain.documents import LAYOUTS, PLAIN_FILLS, tokenize_batch
from spp.pretrain.heldout import build_heldout_windows
from spp.pretrain.init import check_corpus_tokenizer, load_init, open_init
from spp.pretrain.specs import build_model, get_model_spec
from spp.pretrain.tokenizer import load_tokenizer, marker_ids
from spp.pretrain.trainer import SPPTrainer, resolve_global_batch
from spp.pretrain.window_index import Enrichment

logger = logging.getLogger("spp.pretrain")


def midtraining_start_tokens(
    data: SPPDataArguments, args: SPPTrainingArguments, tokens_per_step: int, start_step: int = 0
) -> int | None:
    """Where midtraining starts, in tokens of the stream: explicit tokens, else the final ``midtraining_fraction`` of
    the run, else the start of the ``warmup_stable_decay`` decay (``num_decay_steps``), else ``None`` (no
    midtraining). A run that continues another's stream from step ``start_step`` counts its fraction from there, and
    without either field its midtraining starts at its first window (``start_step x tokens_per_step``)."""
    offset = start_step * tokens_per_step
    if data.midtraining_start_tokens is not None:
        return data.midtraining_start_tokens
    if data.midtraining_fraction is not None:
        if not 0 < data.midtraining_fraction < 1 or args.max_steps <= 0:
            raise SppConfigError(
                "midtraining_fraction needs 0 < f < 1 and max_steps > 0", field="midtraining_fraction"
            )
        return offset + round(args.max_steps * (1 - data.midtraining_fraction)) * tokens_per_step
    decay = (args.lr_scheduler_kwargs or {}).get("num_decay_steps")
    wsd = str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)) == "warmup_stable_decay" and decay
    if start_step:
        if wsd and int(decay) != args.max_steps:
            logger.warning(
                "the continuation's midtraining starts at its first window (step %d of the stream) but its LR decay "
                "at step %d: set midtraining_start_tokens to %d to start it with the decay",
                start_step,
                start_step + args.max_steps - int(decay),
                (start_step + args.max_steps - int(decay)) * tokens_per_step,
            )
        return offset
    if wsd:
        return (args.max_steps - int(decay)) * tokens_per_step
    return None


def check_data_view(data: SPPDataArguments) -> None:
    """The data-view fields' values, checked before anything is loaded (``SppConfigError`` naming the field)."""
    arm = get_arm(data.arm)
    for name, choices in (("layout", LAYOUTS), ("plain_fill", PLAIN_FILLS), ("loss_on", LOSS_ON)):
        if getattr(data, name) not in choices:
            raise SppConfigError(
                f"unknown {name} {getattr(data, name)!r}", field=name, fix=f"use one of {', '.join(choices)}"
            )
    share = data.midtraining_annotated_share
    if share is None and arm.enriched_midtraining:
        raise SppConfigError(
            f"arm {data.arm!r} trains its midtraining phase on the reflection-enriched stream, but "
            "midtraining_annotated_share is not set",
            field="midtraining_annotated_share",
            fix="set the share of annotated documents in the midtraining stream, e.g. 0.68 (what a public "
            "replication reports for the released mt arm; unverified against the authors' files)",
        )
    if share is not None and not 0 < share <= 1:
        raise SppConfigError(
            f"midtraining_annotated_share must be in (0, 1], not {share}", field="midtraining_annotated_share"
        )
    if data.midtraining_max_repeats < 0:
        raise SppConfigError("midtraining_max_repeats must be >= 0", field="midtraining_max_repeats")
    if share is not None and not data.token_cache_dir:
        raise SppConfigError(
            "the enriched midtraining stream is laid out by the window index, which needs the token cache",
            field="token_cache_dir",
            fix="set token_cache_dir (a folder for the pre-tokenized corpus and its window indexes)",
        )


def midtraining_enrichment(data: SPPDataArguments, view: ArmView, seed: int) -> Enrichment | None:
    """The enriched midtraining stream that ``midtraining_annotated_share`` asks for (``None``: none), checked
    against the arm and the schedule (``SppConfigError`` naming the field)."""
    check_data_view(data)
    if data.midtraining_annotated_share is None:
        return None
    start = view.schedule.midtraining_start_tokens
    if start is None:
        raise SppConfigError(
            "midtraining_annotated_share enriches the midtraining phase, but no midtraining start is configured",
            field="midtraining_annotated_share",
            fix="set midtraining_fraction, midtraining_start_tokens, or a warmup_stable_decay schedule",
        )
    return Enrichment(-(-start // data.seq_len), data.midtraining_annotated_share, data.midtraining_max_repeats, seed)


@dataclass
class PretrainRun:
    """Everything ``SPPTrainer`` needs for one arm."""

    tokenizer: Any
    model: Any
    view: ArmView
    train_dataset: PackedArm
    heldout: list
    block_format: BlockFormat
    args: SPPTrainingArguments
    extra: dict = field(default_factory=dict)

    def trainer(self, **kwargs) -> SPPTrainer:
        init = self.extra.get("init_from")
        return SPPTrainer(
            model=self.model,
            args=self.args,
            train_dataset=self.train_dataset,
            processing_class=self.tokenizer,
            heldout=self.heldout,
            schedule_offset=init.step if init is not None else 0,
            **kwargs,
        )


def check_run(model: SPPModelArguments, data: SPPDataArguments, args: SPPTrainingArguments) -> None:
    """What can be checked before anything is loaded or written: voice, max_steps, the data view's fields (arm,
    layout, fill, loss mask, midtraining) and the model spec's name."""
    if data.reflection_voice not in ("1p", "3p"):
        raise SppConfigError(
            f"reflection_voice must be 1p or 3p, not {data.reflection_voice!r}", field="reflection_voice"
        )
    if args.max_steps <= 0:
        raise SppConfigError("pretraining streams its data: set max_steps", field="max_steps")
    check_data_view(data)
    if not model.init_from:
        get_model_spec(model.model_spec)


def build_run(
    model: SPPModelArguments, data: SPPDataArguments, args: SPPTrainingArguments, *, start_step: int = 0
) -> PretrainRun:
    """Load the corpus and tokenizer, build the model from its spec (or load it from ``init_from``) and the arm's
    packed dataset.

    ``start_step``: a run that continues another one's stream (a checkpoint of step ``start_step`` of a run with the
    same data view, e.g. spp_mt from a baseline checkpoint) trains on the windows from ``start_step`` global
    batches on; the schedule, midtraining included, is in tokens of that one stream. ``init_continue_stream`` sets
    it to ``init_step`` and checks init_from's recorded data view first (``spp.pretrain.continuation``).
    ``seq_len`` and ``reflection_budget`` not set are the corpus's (``spp.pretrain.corpus.with_corpus_contract``)."""
    data = with_corpus_contract(data)
    check_run(model, data, args)
    start_step = continued_step(model) or start_step
    source = open_init(model.init_from, model.init_revision) if model.init_from else None  # before any reading
    spec = get_model_spec(model.model_spec) if source is None else None
    corpus, block_format = load_corpus(data.dataset_path, streaming=data.streaming)
    init = None
    if source is not None:
        init = load_init(source, block_format, model.eos_token, model.init_step, model.attn_implementation)
        check_corpus_tokenizer(init.tokenizer, data.dataset_path, block_format, model.init_from)
        tokenizer, lm = init.tokenizer, init.model
    else:
        tokenizer = load_tokenizer(model.tokenizer_name_or_path, block_format, model.eos_token)
        seed = args.seed if model.model_init_seed is None else model.model_init_seed
        lm = build_model(
            spec,
            tokenizer,
            seed=seed,
            pad_vocab_to_multiple_of=model.pad_vocab_to_multiple_of,
            attn_implementation=model.attn_implementation,
        )
    tokens_per_step = resolve_global_batch(args) * data.seq_len
    data_seed = args.data_seed if args.data_seed is not None else args.seed
    view = make_view(
        data.arm,
        harm_threshold=data.harm_threshold,
        start_tokens=data.reflections_from_tokens,
        ramp_tokens=data.reflection_ramp_tokens,
        midtraining_start_tokens=midtraining_start_tokens(data, args, tokens_per_step, start_step),
        placement=data.placement,
        seed=data_seed,
        loss_on=data.loss_on,
    )
    enrichment = midtraining_enrichment(data, view, data_seed)
    view_fields = view_fields_of(model, data, args, corpus, tokenizer, view)
    continuation = None
    if model.init_continue_stream:  # before the corpus is tokenized: a stream that cannot be continued stops here
        continuation = check_continuation(source, view_fields, data.arm, start_step, model.init_from)
    train_docs, heldout_docs = _documents(corpus, tokenizer, block_format, data, args, data_seed)
    packing = {
        "layout": data.layout,
        "plain_fill": data.plain_fill,
        "seq_len": data.seq_len,
        "reflection_budget": data.reflection_budget,
        "eos_id": tokenizer.eos_token_id,
        "pad_id": tokenizer.pad_token_id,
    }
    train = PackedArm(train_docs, view, **packing, enrichment=enrichment, **_index_location(data, data_seed))
    if train.indexed:
        with args.main_process_first(desc="window index"):
            train.window_index()
    if start_step:
        train = train.continue_from(start_step * resolve_global_batch(args))
    audit = audit_stream(train)
    check_audit(
        audit,
        arm_name=view.name,
        has_reflections=view.has_reflections,
        max_skipped_share=data.max_skipped_share,
        windows_needed=train.first_window + args.max_steps * resolve_global_batch(args),
        budget=data.reflection_budget,
    )
    heldout: list = []
    if data.heldout_documents:
        heldout = build_heldout_windows(
            heldout_docs,
            tokenizer,
            seq_len=data.seq_len,
            reflection_budget=data.reflection_budget,
            max_windows=data.heldout_windows,
            layout=data.layout,
            plain_fill=data.plain_fill,
            placement=view.arm.placement,
            seed=data_seed,
        )
    view_fields |= {"stream_start_window": train.first_window}
    extra = {"audit": audit.to_dict(), "view_fields": view_fields, "data_view_hash": data_view_hash(view_fields)}
    if init is not None:
        extra["init_from"] = init
    if continuation is not None:
        extra["continued_stream"] = continuation.record(view.schedule.midtraining_start_tokens)
    return PretrainRun(tokenizer, lm, view, train, heldout, block_format, args, extra)


def view_fields_of(model: SPPModelArguments, data: SPPDataArguments, args, corpus, tokenizer, view) -> dict:
    """Every field that shapes an arm's window stream except the arm: the input of its data-view hash."""
    from spp.pretrain.tokenizer import tokenizer_fingerprint

    return {
        "corpus": corpus_fingerprint(data.dataset_path, corpus),
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "seq_len": data.seq_len,
        "reflection_budget": data.reflection_budget,
        "layout": data.layout,
        "voice": data.reflection_voice,
        "harm_threshold": data.harm_threshold,
        "shuffle_documents": data.shuffle_documents,
        "shuffle_buffer": data.shuffle_buffer if data.streaming else None,
        "heldout_documents": data.heldout_documents,
        "data_seed": args.data_seed if args.data_seed is not None else args.seed,
        "windows_per_step": resolve_global_batch(args),
        "max_steps": args.max_steps,
        "midtraining_start_tokens": view.schedule.midtraining_start_tokens,
        "plain_fill": data.plain_fill,
        "loss_on": data.loss_on,
        "midtraining_annotated_share": data.midtraining_annotated_share,
        "midtraining_max_repeats": data.midtraining_max_repeats if data.midtraining_annotated_share else None,
        "stream_start_window": 0,
    }


def _index_location(data: SPPDataArguments, seed: int) -> dict[str, Any]:
    """Where the training stream's window index lives (beside the token cache) and what identifies its data beyond
    the dataset's fingerprint; nothing without a token cache (the index is then built in memory, if at all)."""
    if not data.token_cache_dir:
        return {}
    info = Path(data.token_cache_dir) / CACHE_INFO
    return {
        "index_dir": Path(data.token_cache_dir) / "windows",
        "index_key": {
            "token_cache": json.loads(info.read_text()) if info.is_file() else None,
            "heldout_documents": data.heldout_documents,
            "data_seed": seed,
            "shuffle_documents": data.shuffle_documents,
        },
    }


def _documents(corpus, tokenizer, block_format, data: SPPDataArguments, args, seed: int):
    if data.token_cache_dir:
        if data.streaming:
            raise SppConfigError(
                "token_cache_dir needs an on-disk corpus", field="streaming", fix="set streaming: false"
            )
        with args.main_process_first(desc="token cache"):
            corpus = cached_tokenized_corpus(
                corpus, tokenizer, block_format, data.reflection_voice, data.token_cache_dir, data.tokenize_num_proc
            )
        tokenize = None
    else:
        tokenize = partial(
            tokenize_batch,
            tokenizer=tokenizer,
            voice=data.reflection_voice,
            marker_ids=marker_ids(tokenizer, block_format),
        )
    train, heldout = split_and_order(corpus, data.heldout_documents, seed, data.shuffle_documents, data.shuffle_buffer)
    return DocumentStream(train, tokenize), DocumentStream(heldout, tokenize)
