"""``SPPSFTConfig``: TRL's ``SFTConfig`` plus the few fields SPP needs (base model, data mixture, binding, stages).

Everything TRL already has (``max_length``, ``packing``, ``assistant_only_loss``, learning rate, ...) keeps its TRL
name and meaning; a recipe (``recipes/sft/*.yaml``) sets both kinds of field in one mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trl import SFTConfig

from spp.batching import accumulation_steps
from spp.checks import AT_LEAST_ONE, SEED, TRAINING_RANGES, check_values
from spp.errors import SppConfigError, check_local_path, check_model_path, check_output_dir
from spp.kernels import LIGER_KERNELS, LIGER_MODES, parse_liger_kernels

MISSING_METADATA_POLICIES = ("error", "default")
CITATION_STAGES = ("none", "uncited", "datasets")
PIN_POLICIES = ("resolve", "require", "off")
TEMPLATE_STYLES = ("marker", "plain")


@dataclass(frozen=True)
class SFTDataset:
    """One dataset of the mixture, in ``messages`` form (a list of ``{"role", "content"}`` per row).

    ``path``: a Hub dataset id, a ``datasets`` builder (``json``, ``parquet``) with ``data_files``, a local
    ``.json``/``.jsonl``/``.parquet`` file, or a ``save_to_disk`` folder (what ``spp bind-data`` writes). Rows are
    ``messages``, or the paired persona-binding schema ``messages_cite`` / ``messages_nocite``; ``columns`` maps those
    names to the dataset's own where its schema differs (``{messages: conversation}``; a released mix whose columns
    are not spp's). ``proportion``: share
    of the stage's mixture (set on all datasets of a stage or on none). ``stage``: 1, or 2 for the uncited second
    stage (``citation_stage: datasets``). ``persona``: whether this is persona-binding data, which alone enters the
    uncited stage 2 (``None``: yes exactly when it is paired).
    """

    path: str
    name: str | None = None
    data_files: str | list[str] | None = None
    split: str = "train"
    revision: str | None = None
    proportion: float | None = None
    stage: int = 1
    persona: bool | None = None
    columns: dict[str, str] | None = None
    requested_revision: str | None = None  # set by pin_revisions: the branch/tag a resolved sha came from

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
        check_values(spec, prefix=f"{where}.")  # numbers finite, persona a real boolean
        check_local_path(str(spec.path), f"{where}.path", what="SFT dataset")
        for file in [spec.data_files] if isinstance(spec.data_files, str) else list(spec.data_files or []):
            check_local_path(str(file), f"{where}.data_files", what="SFT data file")
        if spec.stage not in (1, 2):
            raise SppConfigError(f"stage must be 1 or 2, not {spec.stage!r}", field=f"{where}.stage")
        if spec.proportion is not None and spec.proportion <= 0:
            raise SppConfigError("proportion must be positive", field=f"{where}.proportion")
        if spec.columns is not None:
            roles = ("messages", "messages_cite", "messages_nocite")
            if not isinstance(spec.columns, dict) or not all(
                k in roles and isinstance(v, str) and v for k, v in spec.columns.items()
            ):
                raise SppConfigError(
                    f"columns must map {roles} to the dataset's column names", field=f"{where}.columns",
                    fix="e.g. columns: {messages_cite: chosen_cited, messages_nocite: chosen_plain}",
                )  # fmt: skip
        return spec


@dataclass
class SPPSFTConfig(SFTConfig):
    """``SFTConfig`` with SPP's fields. ``assistant_only_loss`` defaults to on; the chat template is spp's own."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        **TRAINING_RANGES,
        "dataset_num_proc": AT_LEAST_ONE,
        "max_length": AT_LEAST_ONE,
        "pad_to_multiple_of": AT_LEAST_ONE,
        "global_batch_size": AT_LEAST_ONE,
        "mixture_seed": SEED,
    }

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
            "help": "Second, uncited SFT stage: 'none' (one stage), 'uncited' (the authors': stage 2 = the "
            "persona-binding datasets' uncited rendering (messages_nocite) of the rows stage 1 took; the general mix "
            "is not repeated; persona data without one has its [X.Y] citations stripped by pattern) or 'datasets' "
            "(stage 2 = the datasets with stage: 2). 'strip' is read as 'uncited'.",
            "choices": list(CITATION_STAGES),
        },
    )
    constitution: str = field(
        default="default",
        metadata={
            "help": "Value Constitution ('default' or a .yaml/.md file) whose [X.Y] section ids the strip fallback "
            "may remove; checked against the hash the base model's spp.json records."
        },
    )
    pin_revisions: str = field(
        default="resolve",
        metadata={
            "help": "Hub datasets named by a branch or tag (or no revision): 'resolve' (look up its commit sha "
            "once, train on it and record it in the hash and spp.json), 'require' (refuse anything but a 40-hex "
            "sha) or 'off' (train on the moving ref with a warning; not for a comparison run).",
            "choices": list(PIN_POLICIES),
        },
    )
    chat_template_style: str = field(
        default="marker",
        metadata={
            "help": "'marker' (the assistant turn opens with the base model's reflection marker: SPP arms) or "
            "'plain' (it opens with assistant_prefix, as the authors' baselines). Recorded in spp.json.",
            "choices": list(TEMPLATE_STYLES),
        },
    )
    assistant_prefix: str = field(
        default="Assistant: ", metadata={"help": "Text that opens an assistant turn with chat_template_style plain."}
    )
    persona_system_prompt: bool = field(
        default=False,
        metadata={
            "help": "Render a default system turn naming the assistant as the base model's persona in every "
            "conversation, eval prompts included. Off (the SPP authors' setting, and the eval protocol's 'no system "
            "turn') binds through the marker alone."
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
        default=None,
        metadata={
            "known": "spp.pretrain.arms:ARMS",
            "help": "Arm label of the base model when its spp.json does not record one.",
        }
    )
    liger: str = field(
        default="off",
        metadata={
            "help": "Liger kernels, as in pretraining: auto (on CUDA when liger-kernel is installed), on (required) "
            "or off. With fused_linear_cross_entropy the loss is Liger's fused linear cross-entropy (SPPTrainer's "
            "path) instead of TRL's fused LM head; TRL's entropy/token-accuracy metrics are then not logged. "
            "Not part of the SFT hash.",
            "choices": list(LIGER_MODES),
        },
    )
    liger_kernels: str = field(
        default="fused_linear_cross_entropy",
        metadata={"help": f"Comma-separated Liger kernels among {LIGER_KERNELS} (with liger auto/on)."},
    )
    compile_layers: bool = field(
        default=False,
        metadata={"help": "torch.compile each decoder layer (not the loss), as pretraining. Not part of the SFT hash."},
    )
    overwrite: bool = field(
        default=False,
        metadata={
            "help": "Replace what spp wrote in output_dir (another recipe's run, or another stage's output) and "
            "another run's main in export_dir or hub_model_id. Only spp's files go; a folder spp did not write is "
            "never touched."
        },
    )

    def __post_init__(self) -> None:
        # paths and resume first: a bad one is reported before TrainingArguments looks at devices
        if self.model_name_or_path:
            check_model_path(self.model_name_or_path, "model_name_or_path")
        check_output_dir(self.output_dir)
        if self.resume_from_checkpoint:
            raise SppConfigError(
                "spp sft does not resume from a checkpoint (its stages would not be identical for every arm)",
                field="resume_from_checkpoint",
                fix="drop it: rerun spp sft from the start",
            )
        self.dataset_specs  # noqa: B018 - validates the mixture at parse time
        super().__post_init__()
        self._derive_gradient_accumulation()
        if self.citation_stage == "strip":  # the pre-0.2 name; stage 2 no longer repeats the general mix
            self.citation_stage = "uncited"
        checks = (
            ("citation_stage", CITATION_STAGES),
            ("on_missing_metadata", MISSING_METADATA_POLICIES),
            ("pin_revisions", PIN_POLICIES),
            ("chat_template_style", TEMPLATE_STYLES),
            ("liger", LIGER_MODES),
        )
        for name, allowed in checks:
            if getattr(self, name) not in allowed:
                raise SppConfigError(f"{getattr(self, name)!r} is not one of {allowed}", field=name)
        parse_liger_kernels(self.liger_kernels)
        if self.packing and self.packing_strategy == "wrapped":
            raise SppConfigError(
                "packing_strategy 'wrapped' cuts conversations mid-turn",
                field="packing_strategy",
                fix="use 'bfd' (whole conversations, padding-free) or set packing: false",
            )
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
