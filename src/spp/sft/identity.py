"""Identity across arms: the SFT hash, the instruct model's ``spp.json``, and the check compare runs before comparing.

Promises:
- ``sft_hash`` depends on what SFT computes: the data (ids + revisions, or file contents), proportions and stages,
  every training hyperparameter, the global batch size, and the chat template; not on where or how fast it runs
  (base model, output and export folders, logging, saving, Hub settings, workers, how the global batch is split
  between devices, micro-batches and accumulation steps, checkpointing of activations).
- ``check_same_sft`` raises ``SppConfigError`` when instruct models were post-trained with different (or unrecorded)
  SFT recipes, unless ``force``; then it only warns.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from spp.errors import SppConfigError
from spp.metadata import SppMetadata
from spp.recipes import RUNTIME_FIELDS, recipe_hash
from spp.sft.data import dataset_identity
from spp.sft.template import TEMPLATE_VERSION

if TYPE_CHECKING:
    from spp.sft.binding import Binding
    from spp.sft.config import SPPSFTConfig

logger = logging.getLogger("spp.sft")

_RUNTIME_PREFIXES = ("logging_", "log_", "save_", "hub_", "eval_", "dataloader_", "ddp_", "fsdp", "trackio_", "do_")
_RUNTIME_NAMES = {
    *RUNTIME_FIELDS,
    "model_name_or_path",
    "base_model_revision",
    "export_dir",
    "arm",
    "on_missing_metadata",
    "pin_revisions",  # how a sha was found; the sha itself is hashed with the datasets
    "default_persona",
    "chat_template_path",
    "datasets",  # hashed as dataset identities
    "per_device_train_batch_size",  # hashed as the global batch size
    "gradient_accumulation_steps",
    "project",
    "deepspeed",
    "accelerator_config",
    "parallelism_config",
    "debug",
    "skip_memory_metrics",
    "use_cpu",
    "tf32",
    "torch_compile",
    "torch_compile_backend",
    "torch_compile_mode",
    "activation_checkpointing",
    "activation_checkpointing_kwargs",
    "gradient_checkpointing",
    "gradient_checkpointing_kwargs",
    "activation_offloading",
    "torch_empty_cache_steps",
    "auto_find_batch_size",
    "enable_jit_checkpoint",
    "ignore_data_skip",
    "restore_callback_states_from_checkpoint",
    "dataset_num_proc",
    "use_liger_kernel",
    "liger_kernel_config",
    "liger",  # spp's kernel fields: how fast, not what (as use_liger_kernel above)
    "liger_kernels",
    "compile_layers",
    "trust_remote_code",
    "pad_to_multiple_of",
    "prediction_loss_only",
    "include_for_metrics",
    "batch_eval_metrics",
    "load_best_model_at_end",
    "metric_for_best_model",
    "greater_is_better",
    "include_num_input_tokens_seen",
    "remove_unused_columns",
    "label_names",
    "length_column_name",
    "padding_free",
}


def _hashed_fields(config: SPPSFTConfig) -> dict[str, Any]:
    return {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if f.init and f.name not in _RUNTIME_NAMES and not f.name.startswith(_RUNTIME_PREFIXES)
    }


def sft_recipe(config: SPPSFTConfig, chat_template: str, world_size: int | None = None) -> dict[str, Any]:
    """The resolved SFT recipe that ``sft_hash`` fingerprints (also written into the instruct model's spp.json)."""
    world = config.world_size if world_size is None else world_size
    return {
        **_hashed_fields(config),
        "datasets": [dataset_identity(spec) for spec in config.dataset_specs],
        "global_batch_size": config.global_batch_size
        or config.per_device_train_batch_size * config.gradient_accumulation_steps * world,
        "chat_template": chat_template,
        "template_version": TEMPLATE_VERSION,
    }


def sft_hash(config: SPPSFTConfig, chat_template: str, world_size: int | None = None) -> str:
    """sha256 of ``sft_recipe`` (see the module docstring for what it covers)."""
    return recipe_hash(sft_recipe(config, chat_template, world_size), exclude=frozenset())


def base_lineage(name_or_path: str, revision: str | None, meta: SppMetadata | None) -> dict[str, Any]:
    """Lineage of an instruct model: its base model (id or path, revision, recipe hash) and the base's own lineage."""
    base = {"repo_id": name_or_path, "revision": revision, "recipe_hash": meta.recipe_hash if meta else None}
    return {**(meta.lineage if meta else {}), "base_model": base}


def instruct_metadata(
    *,
    base_meta: SppMetadata | None,
    binding: Binding,
    lineage: dict[str, Any],
    sft_hash: str,
    recipe: dict[str, Any],
    chat_template: dict[str, Any] | None = None,
    datasets: list[dict[str, Any]] | None = None,
) -> SppMetadata:
    """The ``spp.json`` of an instruct model: base persona/markers/arm carried over, plus ``sft_hash`` and lineage.

    ``chat_template`` (its style, ``marker`` or ``plain``, and whether it adds a system turn) and ``datasets`` (as
    trained on: resolved shas beside the refs asked for) are recorded in ``details``.
    """
    return SppMetadata(
        kind="instruct_model",
        persona=binding.persona,
        constitution=base_meta.constitution if base_meta else None,
        block_format={"marker": binding.block_format.marker, "end_marker": binding.block_format.end_marker},
        prompt_hash=base_meta.prompt_hash if base_meta else None,
        arm=binding.arm,
        recipe_hash=base_meta.recipe_hash if base_meta else None,
        sft_hash=sft_hash,
        lineage=lineage,
        details={
            "sft_recipe": recipe,
            "binding_defaulted": list(binding.defaulted),
            "chat_template": chat_template or {},
            "datasets": datasets or [],
            # the base model's reflection contract and data view travel on, so compare can check matched arms
            **{
                k: base_meta.details[k] for k in ("data_view_hash", "contract") if base_meta and k in base_meta.details
            },
        },
    )


def _label(meta: SppMetadata, index: int) -> str:
    base = (meta.lineage or {}).get("base_model") or {}
    name = base.get("repo_id") if isinstance(base, dict) else base
    return f"#{index} {name or 'unknown base'} (arm {meta.arm or 'not recorded'})"


def check_same_sft(metadatas: Sequence[SppMetadata], force: bool = False) -> str | None:
    """The SFT hash the instruct models share; differing or missing hashes raise (see the module docstring).

    Returns ``None`` when forced past a mismatch.
    """
    hashes = {_label(m, i): m.sft_hash for i, m in enumerate(metadatas)}
    distinct = set(hashes.values())
    if len(distinct) == 1 and None not in distinct:
        return distinct.pop()
    listing = "; ".join(f"{label}: {h or 'no sft_hash'}" for label, h in hashes.items())
    message = f"these instruct models were not post-trained with the same SFT recipe ({listing})"
    if force:
        logger.warning("%s; comparing anyway (forced): differences may come from SFT, not pretraining", message)
        return None
    raise SppConfigError(
        message,
        field="sft_hash",
        fix="re-run `spp sft` with one recipe for every arm, or force the comparison knowing it is not like for like",
    )
