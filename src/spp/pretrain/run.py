"""``spp pretrain``'s run: one arm trained from the augmented corpus (``SPPTrainer``), and the base model's
``spp.json`` (persona, contract, arm, data-view hash, packing audit)."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from accelerate.logging import get_logger

from spp.contract import ReflectionContract, record_contract
from spp.errors import SppConfigError, check_model_path
from spp.launch import check_launch
from spp.metadata import SppMetadata, read_metadata
from spp.ownership import claim_output, on_main_process, recording_callback
from spp.pretrain.arms import get_arm
from spp.pretrain.builder import build_run, check_run
from spp.pretrain.config import CONFIG_TYPES, SPPDataArguments, SPPModelArguments, SPPTrainingArguments
from spp.pretrain.corpus import with_corpus_contract
from spp.recipes import recipe_hash

__all__ = ["CONFIG_TYPES", "PretrainResult", "pretrain_summary", "run_pretrain"]
logger = get_logger("spp.pretrain")  # accelerate's: the main process logs, not every rank


@dataclass
class PretrainResult:
    """The trained base model's folder, its ``spp.json`` metadata, the trainer's final metrics (also in
    ``train_results.json``, ``Trainer.save_metrics``) and whether this process is the main one (the one that
    reports)."""

    output_dir: Path
    metadata: SppMetadata
    metrics: dict = field(default_factory=dict)
    main_process: bool = True


def pretrain_summary(result: PretrainResult) -> str:
    """Where the base model was saved, its arm and data view, and the final training metrics (main process only)."""
    if not result.main_process:
        return ""
    meta = result.metadata
    view = meta.details.get("data_view_hash")
    lines = [f"base model saved to {result.output_dir} (arm {meta.arm}, data view {view}, recipe {meta.recipe_hash})"]
    shown = {k: result.metrics[k] for k in ("train_loss", "train_runtime", "epoch") if k in result.metrics}
    if shown:
        lines.append("metrics: " + ", ".join(f"{k} {v:.4g}" for k, v in shown.items()))
    return "\n".join(lines)


def run_pretrain(
    model_args: SPPModelArguments, data_args: SPPDataArguments, training_args: SPPTrainingArguments
) -> PretrainResult:
    """Pretrain one arm (``data_args.arm``) from the augmented corpus and save the model with its ``spp.json``;
    ``training_args.resume_from_checkpoint`` (a folder, or ``true``: the last in ``output_dir``) resumes a run.
    The launch (``spp.launch.check_launch``), the corpus and the tokenizer are checked before anything is built
    (``SppConfigError`` naming the field)."""
    check_launch(training_args)
    if not data_args.dataset_path:
        raise SppConfigError("no corpus given", field="dataset_path", fix="set dataset_path in the recipe")
    get_arm(data_args.arm)  # choices before paths: an unknown arm is reported first
    if not any(c in data_args.dataset_path for c in "*?[") and not Path(data_args.dataset_path).exists():
        raise SppConfigError(
            f"corpus {data_args.dataset_path!r} does not exist", field="dataset_path", fix="give spp augment's output"
        )
    if Path(data_args.dataset_path).is_file() and Path(data_args.dataset_path).suffix != ".parquet":
        raise SppConfigError(
            f"{data_args.dataset_path!r} is a raw {Path(data_args.dataset_path).suffix or 'data'} file: pretraining "
            "reads spp augment's output (a save_to_disk folder or parquet shards with the reflection columns)",
            field="dataset_path",
            fix="run spp augment on it first and pass its output_dir",
        )
    data_args = with_corpus_contract(data_args)  # seq_len and budget: the corpus's (a different value is refused)
    if model_args.init_from:
        if model_args.init_step < 0:
            raise SppConfigError(f"must be at least 0, got {model_args.init_step}", field="init_step")
        from spp.hub.resolve import check_local_revision

        check_local_revision(model_args.init_from, model_args.init_revision, "init_revision")
        logger.info("init_from %s: its tokenizer replaces tokenizer_name_or_path", model_args.init_from)
    else:
        check_model_path(model_args.tokenizer_name_or_path, "tokenizer_name_or_path", tokenizer=True)
    check_run(model_args, data_args, training_args)  # before the output folder is claimed
    resume = training_args.resume_from_checkpoint
    if isinstance(resume, str) and resume.lower() in ("true", "false"):
        resume = resume.lower() == "true" or None  # "true": the last checkpoint in output_dir
    claim = on_main_process(training_args, lambda: claim_pretrain_output(model_args, data_args, training_args))
    with claim or nullcontext():
        run = build_run(model_args, data_args, training_args)
        metadata = model_metadata(model_args, data_args, training_args, run)
        if claim is not None:  # the data view is known once the run is built: another one's folder is refused
            claim.check_data_view(run.extra["data_view_hash"])
        trainer = run.trainer(metadata=metadata, callbacks=[c for c in [recording_callback(claim)] if c])
        output = trainer.train(resume_from_checkpoint=resume)  # the export's owner is checked before the first save
        trainer.save_model()
        trainer.save_metrics("train", output.metrics)  # train_results.json (main process only)
        if trainer.is_world_process_zero():
            trainer.spp_metadata.save(training_args.output_dir)  # with the packing counts of the trained windows
    main = trainer.is_world_process_zero()
    return PretrainResult(Path(training_args.output_dir), trainer.spp_metadata, dict(output.metrics), main)


def claim_pretrain_output(model_args, data_args, training_args: SPPTrainingArguments):
    """The pretraining run's claim on ``output_dir`` (``spp.ownership``): by recipe hash here, by data view once the
    run is built; the corpus, tokenizer and token cache are its inputs (none may be the output)."""
    return claim_output(
        "pretrain",
        training_args.output_dir,
        recipe_hash=recipe_hash(model_args, data_args, training_args),
        inputs=[data_args.dataset_path, model_args.tokenizer_name_or_path, data_args.token_cache_dir],
        overwrite=training_args.overwrite,
    )


def model_metadata(model_args, data_args, training_args, run) -> SppMetadata:
    """The base model's ``spp.json``: the dataset's persona and provenance, the reflection contract it trained
    under, the arm, its data-view hash and the start-up packing audit."""
    dataset_meta = read_metadata(data_args.dataset_path)
    contract = ReflectionContract(
        marker=run.block_format.marker,
        end_marker=run.block_format.end_marker,
        reflection_budget=data_args.reflection_budget,
        seq_len=data_args.seq_len,
    )
    metadata = SppMetadata(
        kind="model",
        persona=dataset_meta.persona if dataset_meta else None,
        constitution=dataset_meta.constitution if dataset_meta else None,
        prompt_hash=dataset_meta.prompt_hash if dataset_meta else None,
        arm=data_args.arm,
        recipe_hash=recipe_hash(model_args, data_args, training_args),
        lineage={"dataset": data_args.dataset_path, **_parent(run)},
        details={
            "model_spec": None if model_args.init_from else model_args.model_spec,
            "schedule": run.view.schedule.describe(),
            "placement": run.view.arm.placement,
            "data_view_hash": run.extra["data_view_hash"],
            "data_view": run.extra["view_fields"],
            "packing": {"audit": run.extra["audit"]},
        },
    )
    return record_contract(
        metadata,
        contract,
        layout=data_args.layout,
        voice=data_args.reflection_voice,
        harm_threshold=data_args.harm_threshold,
        tokenizer=model_args.init_from or model_args.tokenizer_name_or_path,
    )


def _parent(run) -> dict:
    """``{"init_from": {id, revision, sha, source, metadata, step}}`` for a run continued from a checkpoint, and
    ``continued_stream`` (``spp.pretrain.continuation.Continuation.record``) when it continues that run's stream."""
    init = run.extra.get("init_from")
    parent = {"init_from": init.record()} if init is not None else {}
    if run.extra.get("continued_stream"):
        parent["continued_stream"] = run.extra["continued_stream"]
    return parent
