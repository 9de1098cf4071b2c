"""``SPPSFTConfig``: TRL's ``SFTConfig`` plus the few fields SPP needs (base model, data mixture, binding, stages).

Everything TRL already has (``max_length``, ``packing``, ``assistant_only_loss``, learning rate, ...) keeps its TRL
name and meaning; a recipe (``recipes/sft/*.yaml``) sets both kinds of field in one mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trl import SFTConfig

from spp.batching import accumulation_steps
from spp.errors import SppConfigError

MISSING_METADATA_POLICIES = ("error", "default")
CITATION_STAGES = ("none", "strip", "datasets")


@dataclass(frozen=True)
class SFTDataset:
    """One dataset of the mixture, in ``messages`` form (a list of ``{"role", "content"}`` per row).

    ``path``: a Hub dataset id, a ``datasets`` builder (``json``, ``parquet``) with ``data_files``, or a local
    ``.json``/``.jsonl``/``.parquet`` file. ``proportion``: share of the stage's mixture (set on all datasets of a
    stage or on none). ``stage``: 1, or 2 for the uncited second stage (``citation_stage: datasets``).
    """

    path: str
    name: str | None = None
    data_files: str | list[str] | None = None
    split: str = "train"
    revision: str | None = None
    proportion: float | None = None
    stage: int = 1

    @classmethod
    def from_dict(cls, data: Any, index: int) -> SFTDataset:
        where = f"datasets[{index}]"
        if not isinstance(data, dict) or "path" not in data:
            raise SppConfigError("each dataset needs at least a 'path'", field=where, fix="write - path: ORG/NAME")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise SppConfigError(
                f"unknown keys {unknown}", field=where, fix=f"use only {sorted(cls.__dataclass_fields__)}"
            )
        spec = cls(**data)
        if spec.stage not in (1, 2):
            raise SppConfigError(f"stage must be 1 or 2, not {spec.stage!r}", field=f"{where}.stage")
        if spec.proportion is not None and spec.proportion <= 0:
            raise SppConfigError("proportion must be positive", field=f"{where}.proportion")
        return spec


@dataclass
class SPPSFTConfig(SFTConfig):
    """``SFTConfig`` with SPP's fields. ``assistant_only_loss`` defaults to on; the chat template is spp's own."""

    assistant_only_loss: bool = field(
        default=True,
        metadata={
            "help": "Train only on assistant tokens (content + end marker), via the template's generation marks."
        },
    )
    global_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "Sequences per optimizer step over all processes. When set, gradient_accumulation_steps is "
            "derived from it, so one recipe (and its SFT hash) means the same batches on 1 or 64 GPUs."
        },
    )
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Base model: a local directory from `spp pretrain` or a Hub id. Not part of the SFT hash."},
    )
    base_model_revision: str | None = field(
        default=None, metadata={"help": "Revision of a Hub base model. Not part of the SFT hash."}
    )
    datasets: list[dict[str, Any]] = field(
        default_factory=list,
        metadata={
            "help": "The SFT mixture: a list of {path, name, data_files, split, revision, proportion, stage} "
            "(see spp.sft.config.SFTDataset). Set it in the recipe YAML."
        },
    )
    mixture_seed: int = field(default=0, metadata={"help": "Seed of the shuffle that picks each dataset's rows."})
    citation_stage: str = field(
        default="none",
        metadata={
            "help": "Second, uncited SFT stage: 'none' (one stage), 'strip' (stage 2 = stage-1 data with [X.Y] "
            "citations removed from assistant turns) or 'datasets' (stage 2 = the datasets with stage: 2).",
            "choices": list(CITATION_STAGES),
        },
    )
    persona_system_prompt: bool = field(
        default=True,
        metadata={
            "help": "Render a default system turn naming the assistant as the base model's persona. Off tests "
            "binding through the marker alone (the SPP authors' setting: no system turn)."
        },
    )
    system_prefix: str = field(default="System: ", metadata={"help": "Text that opens a system turn."})
    user_prefix: str = field(default="User: ", metadata={"help": "Text that opens a user turn."})
    on_missing_metadata: str = field(
        default="error",
        metadata={
            "help": "What to do when the base model has no spp.json (or no block_format/persona in it): 'error', "
            "or 'default' (use the default markers and `default_persona`, with a logged warning).",
            "choices": list(MISSING_METADATA_POLICIES),
        },
    )
    default_persona: str = field(
        default="default",
        metadata={"help": "Persona YAML used only with on_missing_metadata=default ('default' = the shipped one)."},
    )
    export_dir: str | None = field(
        default=None,
        metadata={"help": "Also publish the instruct model (card + spp.json) to this local export folder."},
    )
    arm: str | None = field(
        default=None, metadata={"help": "Arm label of the base model when its spp.json does not record one."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self._derive_gradient_accumulation()
        for name, allowed in (("citation_stage", CITATION_STAGES), ("on_missing_metadata", MISSING_METADATA_POLICIES)):
            if getattr(self, name) not in allowed:
                raise SppConfigError(f"{getattr(self, name)!r} is not one of {allowed}", field=name)
        if self.packing and self.packing_strategy == "wrapped":
            raise SppConfigError(
                "packing_strategy 'wrapped' cuts conversations mid-turn",
                field="packing_strategy",
                fix="use 'bfd' (whole conversations, padding-free) or set packing: false",
            )
        self.dataset_specs  # noqa: B018 - validates the mixture at parse time
        if self.push_to_hub:
            raise SppConfigError(
                "push_to_hub would upload without the spp card and spp.json",
                field="push_to_hub",
                fix="leave it false and pass --hub_model_id ORG/NAME: spp publishes after training",
            )

    def _derive_gradient_accumulation(self) -> None:
        """With ``global_batch_size`` set, ``gradient_accumulation_steps`` follows from the number of processes."""
        if self.global_batch_size is None:
            return
        self.gradient_accumulation_steps = accumulation_steps(
            self.global_batch_size, self.per_device_train_batch_size, self.world_size, "global_batch_size"
        )

    @property
    def dataset_specs(self) -> list[SFTDataset]:
        """``datasets`` validated into ``SFTDataset`` objects."""
        return [SFTDataset.from_dict(d, i) for i, d in enumerate(self.datasets)]
