"""``run_sft``: one identical, persona-bound SFT of a base model with TRL's ``SFTTrainer``, then card + spp.json.

The order is fixed: read the base model's binding, build the chat template from it, hash the resolved recipe, train
stage 1 (and stage 2, uncited, when configured) on the same model, save the instruct model with its template, card
and ``spp.json``, and publish it when ``hub_model_id`` or ``export_dir`` is set.
"""

from __future__ import annotations

import copy
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelerate.logging import get_logger

from spp.errors import SppConfigError
from spp.hub.owners import check_export_owner
from spp.launch import check_launch
from spp.metadata import SppMetadata
from spp.ownership import (
    check_not_in_place,
    claim_output,
    on_main_process,
    recording_callback,
    run_identity,
)
from spp.sft.binding import Binding, ensure_marker_tokens, read_base_metadata, resolve_binding
from spp.sft.config import SPPSFTConfig
from spp.sft.data import stage_datasets
from spp.sft.identity import base_lineage, instruct_metadata, sft_hash, sft_recipe
from spp.sft.revisions import pin_revisions
from spp.sft.template import TemplateSpec, build_chat_template, persona_system_prompt

logger = get_logger("spp.sft")  # accelerate's: the main process logs, not every rank


@dataclass
class SFTResult:
    """Where the instruct model went and what identifies its SFT."""

    output_dir: Path
    sft_hash: str
    metadata: SppMetadata
    published: Any = None
    metrics: dict = field(default_factory=dict)  # the last stage's (also in train_results.json)
    main_process: bool = True  # whether this process is the main one (the one that reports)


def sft_summary(result: SFTResult) -> str:
    """Where the instruct model was saved and its SFT hash (the same for every arm of a matched study), and the
    final training metrics; empty on every process but the main one."""
    if not result.main_process:
        return ""
    where = f", published to {result.published.target}" if result.published else ""
    arm = result.metadata.arm
    lines = [f"instruct model saved to {result.output_dir} (sft_hash {result.sft_hash}, arm {arm}{where})"]
    shown = {k: result.metrics[k] for k in ("train_loss", "train_runtime", "epoch") if k in result.metrics}
    if shown:
        lines.append("metrics: " + ", ".join(f"{k} {v:.4g}" for k, v in shown.items()))
    return "\n".join(lines)


def template_spec(binding: Binding, config: SPPSFTConfig) -> TemplateSpec:
    """What the chat template of ``config`` for a base model with ``binding`` depends on."""
    system = persona_system_prompt(binding.persona) if config.persona_system_prompt else None
    prefix = config.assistant_prefix if config.chat_template_style == "plain" else None
    return TemplateSpec(binding.block_format, system, config.system_prefix, config.user_prefix, "\n", prefix)


def chat_template_for(binding: Binding, config: SPPSFTConfig) -> str:
    """The chat template ``config`` gives a base model with ``binding``."""
    return build_chat_template(template_spec(binding, config))


def constitution_section_ids(config: SPPSFTConfig, base_meta: SppMetadata | None) -> frozenset[str]:
    """Section ids the strip fallback may remove: ``config.constitution``'s, checked against the base's record."""
    from spp.persona import load_constitution
    from spp.persona.constitution import constitution_record

    constitution = load_constitution(config.constitution)
    recorded = (base_meta.constitution or {}).get("hash") if base_meta is not None else None
    if recorded and recorded != constitution_record(constitution)["hash"]:
        raise SppConfigError(
            f"the constitution {config.constitution!r} is not the one the base model's spp.json records",
            field="constitution",
            fix="pass --constitution with the file the base model's reflections were written from",
        )
    return frozenset(constitution.sections)


def load_base(config: SPPSFTConfig) -> tuple[Any, Any, SppMetadata | None, Binding]:
    """Model, tokenizer (with the persona-bound chat template), base ``spp.json`` and binding of the base model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import spp.sft.kernels  # noqa: F401 - registers attn_implementation spp_varlen before the model loads

    name, revision = config.model_name_or_path, config.base_model_revision
    if not name:
        raise SppConfigError("no base model", field="model_name_or_path", fix="pass --model_name_or_path PATH_OR_ID")
    meta = read_base_metadata(name, revision)
    binding = resolve_binding(
        meta,
        source=name,
        on_missing_metadata=config.on_missing_metadata,
        default_persona=config.default_persona,
        arm=config.arm,
    )
    tokenizer = AutoTokenizer.from_pretrained(name, revision=revision, trust_remote_code=config.trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(
        name, revision=revision, trust_remote_code=config.trust_remote_code, **(config.model_init_kwargs or {})
    )
    ensure_marker_tokens(tokenizer, model, binding)
    tokenizer.chat_template = chat_template_for(binding, config)
    return model, tokenizer, meta, binding


def _stage_args(config: SPPSFTConfig, number: int, last: bool) -> SPPSFTConfig:
    args = copy.copy(config)
    args.model_init_kwargs = None  # the model is loaded by load_base
    if not last:
        args.output_dir = str(Path(config.output_dir) / f"stage-{number}")
    return args


def _check_prepared(prepared: Any, rows: int, stage: int) -> None:
    """TRL drops conversations whose assistant tokens all fall past ``max_length``: say so, and fail on none left."""
    kept = len(prepared) if hasattr(prepared, "__len__") else rows
    if kept == 0:
        raise SppConfigError(
            f"stage {stage}: no conversation has an assistant token within max_length",
            field="max_length",
            fix="raise max_length (the persona system prompt alone may fill a short one)",
        )
    logger.info("stage %d: %d of %d conversations prepared for training", stage, kept, rows)


def train_stages(
    model: Any, tokenizer: Any, config: SPPSFTConfig, stages: list, callback: Any = None
) -> tuple[Any, dict[str, float]]:
    """Train ``model`` on each stage's data in turn (same hyperparameters, fresh optimizer and schedule per stage);
    returns the last stage's trainer and its final metrics (``TrainOutput.metrics``)."""
    from spp.sft.kernels import sft_trainer_class

    trainer_class, trainer, metrics = sft_trainer_class(), None, {}
    for number, data in enumerate(stages, 1):
        args = _stage_args(config, number, last=number == len(stages))
        callbacks = [callback] if callback is not None else None
        trainer = trainer_class(
            model=model, args=args, train_dataset=data, processing_class=tokenizer, callbacks=callbacks
        )
        _check_prepared(trainer.train_dataset, len(data), number)
        metrics = dict(trainer.train().metrics)
        model = trainer.model
    return trainer, metrics


def write_card(output_dir: Path, meta: SppMetadata) -> None:
    """``README.md`` (the spp model card) and ``spp.json`` into ``output_dir``."""
    from spp.hub.cards import render_model_card
    from spp.hub.delivery import write_card_and_metadata

    write_card_and_metadata(output_dir, render_model_card(meta), meta)


def run_sft(config: SPPSFTConfig) -> SFTResult:
    """Run the whole SFT stage for ``config`` (see the module docstring); returns the instruct model's identity."""
    check_launch(config)
    config.datasets = pin_revisions(config.datasets, config.pin_revisions)
    claim = on_main_process(config, lambda: claim_sft_output(config))  # before the base model is loaded
    with claim or nullcontext():
        return _run_sft(config, claim)


def claim_sft_output(config: SPPSFTConfig):
    """The SFT run's claim on ``output_dir`` (``spp.ownership``): its inputs are the base model and the datasets."""
    from spp.recipes import recipe_hash

    data = [p for spec in config.dataset_specs for p in [spec.path, *_files(spec.data_files)]]
    return claim_output(
        "sft",
        config.output_dir,
        recipe_hash=recipe_hash(config),
        inputs=[config.model_name_or_path, *data],
        overwrite=config.overwrite,
    )


def _files(data_files: str | list[str] | None) -> list[str]:
    return [data_files] if isinstance(data_files, str) else list(data_files or [])


def check_sft_export(config: SPPSFTConfig, base_meta: SppMetadata | None, digest: str) -> None:
    """Before training: the export folder or Hub repo the instruct model goes to holds no other run's ``main``."""
    if not (config.export_dir or config.hub_model_id):
        return
    base = run_identity(base_meta)
    identity = {**{k: base[k] for k in ("recipe_hash", "data_view_hash") if k in base}, "sft_hash": digest}
    if config.export_dir:
        check_not_in_place([Path(config.export_dir)], [config.output_dir, config.model_name_or_path], "export_dir")
    check_export_owner(
        identity,
        to_dir=config.export_dir,
        repo_id=None if config.export_dir else config.hub_model_id,
        revision="main",
        overwrite=config.overwrite,
        field="export_dir" if config.export_dir else "hub_model_id",
    )


def _run_sft(config: SPPSFTConfig, claim) -> SFTResult:
    model, tokenizer, base_meta, binding = load_base(config)
    if config.eos_token is None:
        config.eos_token = binding.block_format.end_marker or tokenizer.eos_token
    if not config.eos_token:
        raise SppConfigError(
            "the block format has no end marker and the tokenizer no eos_token: the assistant could never stop",
            field="eos_token",
            fix="pass --eos_token TOKEN (a single token of the base tokenizer)",
        )
    recipe = sft_recipe(config, tokenizer.chat_template)
    digest = sft_hash(config, tokenizer.chat_template)
    logger.info("SFT hash %s (arm %s, base %s)", digest, binding.arm, config.model_name_or_path)
    on_main_process(config, lambda: check_sft_export(config, base_meta, digest))
    stages = stage_datasets(config, lambda: constitution_section_ids(config, base_meta))
    trainer, metrics = train_stages(model, tokenizer, config, stages, recording_callback(claim))
    output_dir = Path(config.output_dir)
    trainer.save_model(str(output_dir))  # weights + tokenizer (with the chat template), on the main process
    trainer.save_metrics("train", metrics)  # train_results.json (main process only)
    lineage = base_lineage(config.model_name_or_path, config.base_model_revision, base_meta)
    spec = template_spec(binding, config)
    meta = instruct_metadata(
        base_meta=base_meta,
        binding=binding,
        lineage=lineage,
        sft_hash=digest,
        recipe=recipe,
        chat_template={"style": spec.style, "system_turn": spec.system_prompt is not None},
        datasets=config.datasets,
    )
    main = trainer.is_world_process_zero()
    result = SFTResult(output_dir, digest, meta, metrics=metrics, main_process=main)
    if not main:
        return result
    write_card(output_dir, meta)
    if config.hub_model_id or config.export_dir:
        from spp.hub.publish import publish_model

        result.published = publish_model(
            output_dir, repo_id=config.hub_model_id, to_dir=config.export_dir, metadata=meta
        )
    return result
