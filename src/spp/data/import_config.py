"""The configs of ``spp import-reflections``: where the imported corpus goes, the contract checks, how the job is
split (``ImportJobConfig``), and all of them together (``ImportConfigs``, in ``CONFIG_TYPES`` order)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spp.contract import OVER_BUDGET_POLICIES, ReflectionContract
from spp.data.executor import EXECUTOR_FIELDS, ExecutorConfig
from spp.data.import_rows import MISMATCH_POLICIES, UNKNOWN_CITATION_POLICIES, CheckSettings
from spp.data.jobdir import CHUNKED_JOB_RUNTIME_FIELDS
from spp.data.resume import CORPUS_CHANGE_POLICIES
from spp.data.sidecar import SidecarConfig
from spp.data.sources import SourceConfig
from spp.errors import SppConfigError
from spp.errors import check_output_dir as check_writable_folder
from spp.recipes import recipe_hash, resolved_recipe

IMPORT_RUNTIME_FIELDS = CHUNKED_JOB_RUNTIME_FIELDS | EXECUTOR_FIELDS | {
    "streaming",
    "sidecar_streaming",
    "on_corpus_change",
    "min_join_share",
}


@dataclass
class ImportJobConfig:
    """Where the imported corpus goes, the contract checks, and how the job is split."""

    output_dir: str = field(default="outputs/imported", metadata={"help": "Folder of the imported corpus."})
    training_tokenizer: str = field(
        default="",
        metadata={
            "help": "Tokenizer of the model that will train on this corpus (Hub id or folder): every imported "
            "reflection's pause and block are measured in its tokens (required)."
        },
    )
    over_budget: str = field(
        default="trim",
        metadata={
            "values": "spp.contract:OVER_BUDGET_POLICIES",
            "help": "A reflection over the budget: trim (at the last sentence end that fits) or reject.",
        },
    )
    on_token_mismatch: str = field(
        default="reject",
        metadata={
            "values": "spp.data.import_rows:MISMATCH_POLICIES",
            "help": "A pause whose recorded token index differs from the training tokenizer's count of the text "
            "before it: reject (the text may not be the one the reflection was written on) or keep (counted; the "
            "training tokenizer's index is written). With another tokenizer than the sidecar's, set token_index=none."
        },
    )
    on_unknown_citation: str = field(
        default="drop",
        metadata={
            "values": "spp.data.import_rows:UNKNOWN_CITATION_POLICIES",
            "help": "Cited ids the constitution lacks: drop them from citations (counted) or reject the row.",
        },
    )
    min_join_share: float = field(
        default=0.99,
        metadata={
            "help": "Exit 2 at the merge when fewer than this share of the sidecar's ids found their document in "
            "the corpus (a wrong id column, another corpus); lower it to import against part of the corpus."
        },
    )
    corpus_harm_column: str = field(
        default="harm_score",
        metadata={
            "help": "The corpus's harm-score column, used when present; else the sidecar's score (joined rows)."
        },
    )
    harm_threshold: float = field(default=3.0, metadata={"help": "Rows at or above it are counted as harmful."})
    constitution: str = field(
        default="default", metadata={"help": "Value Constitution whose section ids citations are checked against."}
    )
    persona: str = field(default="default", metadata={"help": "Persona recorded in spp.json (binding reads it)."})
    chunk_size: int = field(default=1000, metadata={"help": "Corpus rows per committed chunk."})
    num_shards: int = field(default=1, metadata={"help": "Number of shards (e.g. the size of a Slurm array)."})
    shard_index: int = field(default=0, metadata={"help": "Which shard this process runs, 0-based."})
    merge: bool = field(default=False, metadata={"help": "Only merge finished shards (automatic with one shard)."})
    overwrite: bool = field(default=False, metadata={"help": "Discard an existing job in output_dir and start over."})
    on_corpus_change: str = field(
        default="error",
        metadata={
            "values": "spp.data.resume:CORPUS_CHANGE_POLICIES",
            "help": "A rerun whose corpus or sidecar rows changed under committed chunks: 'error' or 'redo'.",
        },
    )
    hub_repo_id: str | None = field(default=None, metadata={"help": "After merging, publish the corpus here."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar."})

    def __post_init__(self) -> None:
        if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
            raise SppConfigError("shard_index must be in 0..num_shards-1", field="shard_index")
        if self.chunk_size < 1:
            raise SppConfigError("must be at least 1", field="chunk_size")
        choices = (
            ("over_budget", OVER_BUDGET_POLICIES),
            ("on_token_mismatch", MISMATCH_POLICIES),
            ("on_unknown_citation", UNKNOWN_CITATION_POLICIES),
            ("on_corpus_change", CORPUS_CHANGE_POLICIES),
        )
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise SppConfigError(f"{getattr(self, name)!r} is not one of {allowed}", field=name)
        if not 0 <= self.min_join_share <= 1:
            raise SppConfigError("must be between 0 and 1", field="min_join_share")
        if not self.training_tokenizer:
            raise SppConfigError(
                "no training tokenizer: imported reflections are checked against the budget in its tokens",
                field="training_tokenizer",
                fix="pass the tokenizer of the model that will train on the corpus (e.g. HuggingFaceTB/SmolLM2-1.7B)",
            )
        if self.overwrite and self.num_shards > 1:
            raise SppConfigError(
                "--overwrite with num_shards > 1 would let every shard delete the others' work", field="overwrite"
            )
        check_writable_folder(self.output_dir)

    def settings(self) -> CheckSettings:
        return CheckSettings(self.over_budget, self.on_token_mismatch, self.on_unknown_citation, self.harm_threshold)


@dataclass
class ImportConfigs:
    """Every config of ``spp import-reflections``."""

    job: ImportJobConfig = field(default_factory=ImportJobConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    sidecar: SidecarConfig = field(default_factory=SidecarConfig)
    contract: ReflectionContract = field(default_factory=ReflectionContract)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)  # where the job runs, not what it writes

    def all(self) -> tuple:
        return (self.job, self.source, self.sidecar, self.contract)

    def recipe(self) -> dict[str, Any]:
        """Everything that decides the rows (runtime fields excluded): the job's fingerprint input."""
        return resolved_recipe(*self.all(), exclude=IMPORT_RUNTIME_FIELDS)

    def recipe_hash(self) -> str:
        return recipe_hash(*self.all(), exclude=IMPORT_RUNTIME_FIELDS)


# The configs of ``spp import-reflections``, in the order of ``ImportConfigs``' fields.
CONFIG_TYPES = [ImportJobConfig, SourceConfig, SidecarConfig, ReflectionContract, ExecutorConfig]
