"""``ExperimentConfig``: one recipe for the whole matched-arm study, and how each stage's recipe is resolved from it.

An experiment YAML names, per stage, a stage recipe (``recipe: recipes/pretrain/smollm2-1.7b.yaml``, or none) and
``overrides`` (keys = that stage's fields). The resolved stage recipe is the stage recipe's mapping (its ``base:``
chain resolved, ``spp.recipes.load_recipe``) updated with the overrides, with ``{output_dir}`` and ``{arm}``
substituted in every string; it is written next to the run and turned into the stage's configs in memory
(``spp.recipes.configs_from_recipe``). The experiment YAML itself may derive from another (``base:``). Recipes stay
YAML data; nothing here holds stage logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.checks import AT_LEAST_ONE, check_safe_name
from spp.errors import SppConfigError, check_output_dir
from spp.recipes import BASE_KEY, load_recipe

STAGE_SECTIONS = ("score", "augment", "tokenizer", "toy_data", "bind", "pretrain", "sft", "attack", "eval", "compare")
LAUNCH_MODES = ("run", "print")


@dataclass
class ExperimentConfig:
    """The whole study: stages in order, the arms, where artifacts go, how training is launched."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "augment_shards": AT_LEAST_ONE,
        "num_machines": AT_LEAST_ONE,
        "gpus_per_machine": AT_LEAST_ONE,
    }

    name: str = field(default="spp-experiment", metadata={"help": "Experiment name; prefixes published repo names."})
    output_dir: str = field(default="outputs/experiment", metadata={"help": "Root folder of every artifact."})
    arms: list[str] = field(
        default_factory=lambda: ["baseline", "spp_t0"],
        metadata={"known": "spp.pretrain.arms:ARMS", "help": "Arms to pretrain, post-train and evaluate."},
    )
    models: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "Evaluate these models instead of training arms: {LABEL: REPO_OR_PATH} or {LABEL: {model, "
            "revision}} (e.g. the released instruct models: recipes/experiments/released_1.7b.yaml); each gets the "
            "attack and eval steps, then one compare step. Empty: train and evaluate `arms`."
        },
    )
    release: str = field(
        default="",
        metadata={
            "help": "Release registry of `models` (a name such as dlab-spp, or a path): it labels them, names their "
            "chat template, puts the paper's figures beside the comparison ('as reported') and sizes the downloads."
        },
    )
    score: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "Harm scoring before augmentation: {recipe, overrides} (empty: no separate scoring)."},
    )
    augment: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "spp augment: {recipe, overrides}; declares corpus, persona, constitution, generator."},
    )
    tokenizer: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "Train a tokenizer on the corpus: {vocab_size} (empty: the pretrain recipe's tokenizer)."},
    )
    toy_data: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "Write the demo's toy chat set and small benchmark files: {items_per_benchmark} or empty."},
    )
    bind: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "spp bind-data before the SFT steps: {recipe, overrides}. Its output replaces the SFT recipe's "
            "dataset whose path is the bind recipe's own output_dir (what `spp sft` reads when run by hand); empty: "
            "the SFT recipe's datasets as they are (e.g. recipes/sft/released.yaml, the authors' released mixes)."
        },
    )
    pretrain: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "spp pretrain: {recipe (may hold {arm}), overrides}."}
    )
    sft: dict[str, Any] = field(default_factory=dict, metadata={"help": "spp sft (identical for every arm)."})
    attack: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "spp attack per arm, before its eval (the test cases depend on the model): {recipe, overrides}; "
            "needed when eval runs harmbench."
        },
    )
    eval: dict[str, Any] = field(default_factory=dict, metadata={"help": "spp eval: {recipe, overrides}."})
    compare: dict[str, Any] = field(default_factory=dict, metadata={"help": "spp compare: {overrides}."})
    publish: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "Where artifacts go: {hub_org} (the Hub) or {to_dir} (a local hub folder), or empty."},
    )
    launch: str = field(
        default="run",
        metadata={
            "values": "spp.experiment.config:LAUNCH_MODES",
            "help": "Training stages: 'run' (in-process on one device, accelerate on several) or 'print'.",
        },
    )
    accelerate_config: str = field(
        default="recipes/accelerate/ddp.yaml", metadata={"help": "accelerate config file of the launch commands."}
    )
    augment_shards: int = field(
        default=1,
        metadata={
            "help": "Shards of the augment step. 1: it runs here. N > 1: spp experiment prints one `spp augment` line "
            "per shard (e.g. for a Slurm array) and the merge line, as it prints training steps; rerun it after the merge."
        },
    )
    num_machines: int = field(default=1, metadata={"help": "Nodes of the training cluster."})
    gpus_per_machine: int = field(default=1, metadata={"help": "GPUs per node."})
    throughput_file: str = field(
        default="benchmarks/throughput.json", metadata={"help": "Measured throughput figures for --dry_run estimates."}
    )
    throughput_figure: str = field(
        default="", metadata={"help": "Which figure of throughput_file to estimate GPU-hours with."}
    )
    attack_throughput_figure: str = field(
        default="",
        metadata={"help": "Which figure of throughput_file's 'attack' section estimates attack GPU-hours."},
    )
    generate_throughput_figure: str = field(
        default="",
        metadata={"help": "Which figure of throughput_file's 'generate' section (new tokens/s per GPU) times eval."},
    )
    dry_run: bool = field(default=False, metadata={"help": "Print the plan and estimates; run nothing."})
    until: str = field(
        default="",
        metadata={
            "values": "spp.experiment.runner:RUN_ORDER",
            "help": "Stop after the steps of this stage (e.g. pretrain); empty: run everything.",
        }
    )
    recipe_dir: str = field(
        default="", metadata={"help": "Folder stage recipe paths are relative to (default: cwd, then the repo)."}
    )

    def __post_init__(self) -> None:
        if self.launch not in LAUNCH_MODES:
            raise SppConfigError(f"{self.launch!r} is not one of {LAUNCH_MODES}", field="launch")
        if self.until and self.until not in STAGE_SECTIONS + ("publish",):
            raise SppConfigError(f"unknown stage {self.until!r}", field="until", fix=f"one of {STAGE_SECTIONS}")
        if self.models:
            self._check_models()
        else:
            self._check_arms()
        check_safe_name(self.name, "name")  # it names folders and Hub repos: no '../', no '/'
        check_output_dir(self.output_dir)
        if self.augment_shards < 1:
            raise SppConfigError(f"must be at least 1, not {self.augment_shards}", field="augment_shards")
        for name in STAGE_SECTIONS:
            unknown = set(getattr(self, name) or {}) - {"recipe", "overrides", "vocab_size", "items_per_benchmark"}
            if unknown:
                raise SppConfigError(f"unknown keys {sorted(unknown)}", field=name, fix="use recipe and overrides")

    def _check_arms(self) -> None:
        """``arms`` is a non-empty list of distinct, known arm names (checked before any step is planned)."""
        from spp.pretrain.arms import get_arm

        example = "arms: [baseline, spp_t0]"
        if isinstance(self.arms, str) or not isinstance(self.arms, list | tuple):
            raise SppConfigError(
                f"must be a list of arm names, found {type(self.arms).__name__} {self.arms!r}",
                field="arms",
                fix=f"write a YAML list, e.g. {example} (on the command line: --arms baseline spp_t0)",
            )
        if not self.arms:
            raise SppConfigError("no arms", field="arms", fix=f"list at least one arm, e.g. {example}")
        duplicates = sorted({arm for arm in self.arms if self.arms.count(arm) > 1})
        if duplicates:
            raise SppConfigError(f"arms listed twice: {duplicates}", field="arms", fix="list each arm once")
        for arm in self.arms:
            try:
                get_arm(arm)
            except SppConfigError as err:
                raise SppConfigError(err.detail, field="arms", fix=err.fix) from err

    def _check_models(self) -> None:
        """``models`` maps labels to a model (a string, or ``{model, revision}``); it replaces the training arms, so
        no training section may be set (it would silently not run)."""
        if not isinstance(self.models, dict):
            raise SppConfigError(
                f"must map labels to models, found {type(self.models).__name__}",
                field="models",
                fix="write e.g. models: {t0: dlab-spp/t0-1.7b-instruct, vanilla: {model: ..., revision: main}}",
            )
        from spp.hub.refs import check_revision

        for label, spec in self.models.items():
            check_revision(str(label), field="models")  # a label names steps and folders
            model = spec.get("model") if isinstance(spec, dict) else spec
            extra = set(spec) - {"model", "revision"} if isinstance(spec, dict) else set()
            if not isinstance(model, str) or not model or extra:
                raise SppConfigError(
                    f"{label}: {spec!r} is not a model id/path or a mapping {{model, revision}}",
                    field=f"models.{label}",
                )
        training = [name for name in ("score", "augment", "tokenizer", "pretrain", "sft") if getattr(self, name)]
        if training:
            raise SppConfigError(
                f"models evaluates given models, so the sections {training} would not run",
                field="models",
                fix="remove those sections, or remove models to train the arms",
            )
        self.arms = [str(label) for label in self.models]

    def model_of(self, label: str) -> tuple[str, str]:
        """``(model, revision)`` of a ``models`` entry (revision ``""``: main)."""
        spec = self.models[label]
        if isinstance(spec, dict):
            return str(spec["model"]), str(spec.get("revision") or "")
        return str(spec), ""

    @property
    def root(self) -> Path:
        return Path(self.output_dir)

    @property
    def num_gpus(self) -> int:
        return self.num_machines * self.gpus_per_machine


def _candidates(path: str, recipe_dir: str) -> list[Path]:
    here = Path(path)
    roots = [Path(recipe_dir)] if recipe_dir else []
    return [here, *(root / path for root in roots), Path(__file__).parent / "data" / path]


def find_recipe(path: str, recipe_dir: str = "") -> Path:
    """The stage recipe file ``path`` names: as given, else under ``recipe_dir``, else shipped with spp."""
    for candidate in _candidates(path, recipe_dir):
        if candidate.is_file():
            return candidate
    raise SppConfigError(
        "stage recipe not found", source=path, fix="run from the repository root or set recipe_dir in the experiment"
    )


def substitute(value: Any, variables: dict[str, str]) -> Any:
    """``value`` with ``{name}`` replaced by ``variables[name]`` in every string, recursively."""
    if isinstance(value, str):
        for name, text in variables.items():
            value = value.replace("{" + name + "}", text)
        return value
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    return value


def stage_recipe(config: ExperimentConfig, section: str, **variables: str) -> dict[str, Any]:
    """The resolved recipe of ``section``: its recipe file's mapping (its ``base:`` chain resolved,
    ``spp.recipes.load_recipe``) updated with its overrides, substituted."""
    spec = getattr(config, section) or {}
    variables = {"output_dir": config.output_dir, "name": config.name, **variables}
    recipe: dict[str, Any] = {}
    if spec.get("recipe"):
        recipe = load_recipe(find_recipe(substitute(spec["recipe"], variables), config.recipe_dir))
    overrides = spec.get("overrides") or {}
    if BASE_KEY in overrides:  # it would be resolved against the written step recipe's folder, not the user's
        raise SppConfigError(
            "base is a key of a recipe file, not an override", field=f"{section}.overrides.base",
            fix=f"set {section}.recipe to the base recipe (its fields are what overrides replace)",
        )  # fmt: skip
    recipe.update(overrides)
    return substitute(recipe, variables)


# Experiment recipes shipped inside the package, by name: a "module:attr" target naming the recipe file's path,
# imported only when that name is loaded (the demo sits above the experiment and imports it, not the reverse).
EMBEDDED_RECIPES: dict[str, str] = {"demo": "spp.demo:DEMO_RECIPE"}


def load_experiment(recipe: str | Path = "demo", **overrides: Any) -> ExperimentConfig:
    """The ``ExperimentConfig`` of a recipe file or of an embedded recipe's name (``EMBEDDED_RECIPES``; ``"demo"``:
    the tiny recipe ``spp demo`` runs), with field ``overrides``."""
    if str(recipe) in EMBEDDED_RECIPES:
        from spp.targets import load_target

        recipe = load_target(EMBEDDED_RECIPES[str(recipe)])
    path = Path(recipe)
    if not path.is_file():
        raise SppConfigError("experiment recipe not found", source=path)
    data = load_recipe(path)
    unknown = set(data) - set(ExperimentConfig.__dataclass_fields__)
    if unknown:
        raise SppConfigError(f"unknown keys {sorted(unknown)}", source=path, fix="spp experiment --help lists them")
    return ExperimentConfig(**{**data, **overrides})
