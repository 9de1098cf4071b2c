"""``AttackConfig``: the fields of ``spp attack`` (a recipe sets them; ``--help`` lists them).

Hyperparameter fields default to ``None``: each method's HarmBench value (``spp.attack.pez.DEFAULTS``,
``spp.attack.gcg.DEFAULTS``). Setting one the chosen method does not use is an error, not a silent no-op.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.checks import AT_LEAST_ONE, SEED
from spp.errors import check_local_path, check_model_path, check_output_dir, check_range
from spp.hub.export import is_export
from spp.modeling.chat_template import CHAT_TEMPLATE_HELP
from spp.modeling.load import DEVICE_HELP, DTYPE_HELP, check_device, check_dtype

HYPERPARAMETERS = (
    "num_steps",
    "num_test_cases_per_behavior",
    "num_optim_tokens",
    "lr",
    "adv_string_init",
    "search_width",
    "topk",
    "allow_non_ascii",
    "eval_steps",
    "early_stopping",
    "early_stopping_min_loss",
    "eval_with_check_refusal",
    "check_refusal_min_loss",
)


@dataclass
class AttackConfig:
    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "behaviors_per_batch": AT_LEAST_ONE,
        "search_batch_size": AT_LEAST_ONE,
        "seed": SEED,
        "num_steps": AT_LEAST_ONE,
        "num_test_cases_per_behavior": AT_LEAST_ONE,
        "num_optim_tokens": AT_LEAST_ONE,
        "search_width": AT_LEAST_ONE,
        "topk": AT_LEAST_ONE,
        "eval_steps": AT_LEAST_ONE,
    }

    # --- what is attacked ---
    method: str = field(
        default="pez",
        metadata={"values": "spp.attack.registry:method_names", "help": "Attack method (the spp.attack registry)."},
    )
    model: str = field(
        default="", metadata={"help": "The model under test: a local folder, a local export or a Hub id."}
    )
    revision: str = field(
        default="",
        metadata={"help": "Revision of `model`: a Hub branch, tag or commit, or a local export's ref (empty: main)."},
    )
    behaviors: str = field(
        default="", metadata={"help": "HarmBench behaviours CSV (e.g. harmbench_behaviors_text_test.csv)."}
    )
    targets: str = field(
        default="",
        metadata={
            "help": "HarmBench targets JSON {BehaviorID: target} (default: harmbench_targets_text.json beside the "
            "behaviours file, else a Target column)."
        },
    )
    functional_categories: list[str] = field(
        default_factory=list,
        metadata={"help": "Keep behaviours of these FunctionalCategory values (empty: all; 'standard': the 159)."},
    )
    behavior_ids: list[str] = field(default_factory=list, metadata={"help": "Keep only these BehaviorIDs."})
    limit: int = field(default=0, metadata={"help": "Keep the first N selected behaviours (0: all)."})
    chat_template: str = field(
        default="model",
        metadata={
            "help": f"Chat template the test case is wrapped in, as spp eval sends it: {CHAT_TEMPLATE_HELP}; or none "
            "(raw text, a base model). true/false mean model/none."
        },
    )
    # --- output ---
    output: str = field(default="test_cases.json", metadata={"help": "HarmBench test_cases.json to write."})
    work_dir: str = field(
        default="", metadata={"help": "One file per finished behaviour (default: OUTPUT_STEM_behaviors/ beside it)."}
    )
    overwrite: bool = field(
        default=False,
        metadata={"help": "Replace test cases (and their behaviour files) that spp wrote there for another attack."},
    )
    # --- how it runs ---
    behaviors_per_batch: int = field(
        default=4, metadata={"help": "Behaviours optimised together (each adds its test cases as rows)."}
    )
    search_batch_size: int = field(default=512, metadata={"help": "gcg: candidate prompts per forward pass."})
    device: str = field(default="auto", metadata={"help": f"Device: {DEVICE_HELP}."})
    dtype: str = field(
        default="auto",
        metadata={"values": "spp.modeling.load:DTYPES", "help": f"Weights' dtype: {DTYPE_HELP}."},
    )
    seed: int = field(default=0, metadata={"help": "Seed of the initial prompts (per behaviour and test case)."})
    # --- hyperparameters (None: the method's HarmBench default) ---
    num_steps: int | None = field(default=None, metadata={"help": "Optimisation steps (pez 100, gcg 500)."})
    num_test_cases_per_behavior: int | None = field(
        default=None, metadata={"help": "Test cases per behaviour (pez 5, gcg 1)."}
    )
    num_optim_tokens: int | None = field(default=None, metadata={"help": "pez: optimised tokens (20)."})
    lr: float | None = field(default=None, metadata={"help": "pez: Adam learning rate of the soft prompt (0.01)."})
    adv_string_init: str | None = field(default=None, metadata={"help": "gcg: initial suffix (20 x '!')."})
    search_width: int | None = field(default=None, metadata={"help": "gcg: candidates per step (512)."})
    topk: int | None = field(default=None, metadata={"help": "gcg: top-k tokens per position (256)."})
    allow_non_ascii: bool | None = field(default=None, metadata={"help": "gcg: allow non-ASCII tokens (false)."})
    eval_steps: int | None = field(default=None, metadata={"help": "gcg: steps between refusal checks (10)."})
    early_stopping: bool | None = field(default=None, metadata={"help": "gcg: stop at a low loss (false)."})
    early_stopping_min_loss: float | None = field(default=None, metadata={"help": "gcg: that loss (0.05)."})
    eval_with_check_refusal: bool | None = field(
        default=None, metadata={"help": "gcg: stop once the model no longer refuses (true)."}
    )
    check_refusal_min_loss: float | None = field(
        default=None, metadata={"help": "gcg: check for refusal only below this loss (0.05)."}
    )

    def __post_init__(self) -> None:
        """Ranges checked at parse time, before any model is loaded."""
        check_range(self, "limit", low=0)
        for name in ("behaviors_per_batch", "search_batch_size", "num_steps", "num_test_cases_per_behavior"):
            check_range(self, name, low=1)
        check_output_dir(Path(self.output).parent, "output")
        check_device(self.device, "device")
        check_dtype(self.dtype, "dtype")
        self.chat_template = chat_template_spec(self.chat_template)
        if self.revision:
            from spp.hub.refs import check_revision

            check_revision(self.revision)
        if self.model:
            from spp.hub.resolve import check_local_revision

            check_local_revision(self.model, self.revision)
            if not is_export(self.model):
                check_model_path(self.model, "model")
        for name in ("behaviors", "targets"):
            check_local_path(getattr(self, name), name, what=f"{name} file")

    def overrides(self) -> dict[str, Any]:
        """The hyperparameters set explicitly (not ``None``)."""
        return {name: getattr(self, name) for name in HYPERPARAMETERS if getattr(self, name) is not None}

    def work_path(self) -> Path:
        out = Path(self.output)
        return Path(self.work_dir) if self.work_dir else out.parent / f"{out.stem}_behaviors"

    def provenance_path(self) -> Path:
        return provenance_path(self.output)


def chat_template_spec(value: Any) -> str:
    """The ``chat_template`` field as a spec: ``true``/``false`` (older recipes) are ``model``/``none``."""
    text = str(value).strip()
    return {"true": "model", "false": "none", "": "model"}.get(text.lower(), text)


def provenance_path(test_cases: str | Path) -> Path:
    """Where the attack's record lies beside its ``test_cases.json``: ``<stem>.attack.json``."""
    path = Path(test_cases)
    return path.with_name(f"{path.stem}.attack.json")
