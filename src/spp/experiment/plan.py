"""The plan of an experiment: every step in order, with its resolved recipe, inputs, outputs and recipe hash.

Promises: the plan is a pure function of the ``ExperimentConfig`` (and the stage recipe files it names); a step's
hash covers its resolved recipe (runtime-only fields excluded, see ``spp.recipes``) and the hashes of the steps it
reads, so changing anything upstream changes every hash downstream.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.attack.config import chat_template_spec
from spp.errors import SppConfigError
from spp.experiment.config import ExperimentConfig, stage_recipe, substitute
from spp.recipes import recipe_hash

TRAINING_STAGES = ("pretrain", "sft")


@dataclass
class Step:
    """One stage run: ``name`` is unique (``pretrain-spp_t0``); ``done_files`` must all exist once it has finished."""

    name: str
    stage: str
    recipe: dict[str, Any]
    inputs: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    done_files: list[str] = field(default_factory=list)
    arm: str | None = None
    hash: str = ""

    @property
    def training(self) -> bool:
        return self.stage in TRAINING_STAGES

    @property
    def sharded(self) -> bool:
        """An augment step split over several processes (``augment_shards`` > 1): launched by the user, not run here."""
        return self.stage == "augment" and int(self.recipe.get("num_shards", 1)) > 1

    def recipe_path(self, config: ExperimentConfig) -> Path:
        """Where the resolved recipe of this step is written (and what a launch command passes to --config)."""
        return config.root / "recipes" / f"{self.name}.yaml"


def _publish_target(config: ExperimentConfig, repo: str, kind: str) -> dict[str, str]:
    """Recipe fields that publish ``repo`` (``kind``: dataset, pretrain or sft) to the Hub or the local hub folder."""
    pub = config.publish or {}
    if pub.get("hub_org"):
        key = {"dataset": "repo_id", "pretrain": "hub_model_id", "sft": "hub_model_id"}[kind]
        return {key: f"{pub['hub_org']}/{repo}"}
    if pub.get("to_dir"):
        key = {"dataset": "to_dir", "pretrain": "checkpoint_export_dir", "sft": "export_dir"}[kind]
        folder = "datasets" if kind == "dataset" else "models"
        to_dir = substitute(pub["to_dir"], {"output_dir": config.output_dir, "name": config.name})
        return {key: str(Path(to_dir) / folder / repo)}
    return {}


CONTRACT_FIELDS = ("seq_len", "reflection_budget")


def _needs_end_placement(config: ExperimentConfig) -> bool:
    """Whether an arm reads the end placement's columns (``spp_t0_end``, or ``placement: end`` in its recipe)."""
    from spp.pretrain.arms import get_arm

    return any(
        get_arm(arm).placement == "end" or stage_recipe(config, "pretrain", arm=arm).get("placement") == "end"
        for arm in config.arms
    )


def corpus_path(config: ExperimentConfig) -> str:
    """The corpus every arm pretrains on: the augmented one, with the end placement's columns when an arm needs them
    (then every arm reads that one, so all stay data-matched)."""
    folder = "augmented-end" if _needs_end_placement(config) else "augmented"
    return str(config.root / "data" / folder)


def _data_steps(config: ExperimentConfig) -> list[Step]:
    root, steps = config.root, []
    augment = stage_recipe(config, "augment")
    if config.score:
        scored = str(root / "data" / "scored")
        score = {**stage_recipe(config, "score"), "output_dir": scored}
        steps.append(Step("score", "score", score, outputs={"dataset": scored}, done_files=[f"{scored}/spp.json"]))
        augment["dataset"] = scored
    _share_contract(config, augment)
    inputs = ["score"] if config.score else []
    if config.tokenizer:  # trained on the source documents first: augmentation measures reflections in its tokens
        out = str(root / "data" / "tokenizer")
        recipe = {
            "dataset": augment.get("dataset", "builtin:stdlib-docs"),
            "text_column": augment.get("text_column", "text"),
            "max_documents": augment.get("max_documents"),
            "vocab_size": int(config.tokenizer.get("vocab_size", 2048)),
        }
        steps.append(
            Step("tokenizer", "tokenizer", recipe, list(inputs), {"tokenizer": out}, [f"{out}/tokenizer.json"])
        )
        augment["training_tokenizer"] = out
        inputs.append("tokenizer")
    corpus = str(root / "data" / "augmented")
    augment.update(output_dir=corpus, num_shards=config.augment_shards, shard_index=0)
    steps.append(Step("augment", "augment", augment, inputs, {"dataset": corpus}, [f"{corpus}/spp.json"]))
    last = "augment"
    if _needs_end_placement(config):  # the spp_t0_end ablation's own reflections, added beside the pause ones
        end = corpus_path(config)
        recipe = {**augment, "placement": "end", "dataset": corpus, "id_column": "id", "output_dir": end}
        recipe.pop("max_documents", None)
        steps.append(Step("augment-end", "augment", recipe, ["augment"], {"dataset": end}, [f"{end}/spp.json"]))
        corpus, last = end, "augment-end"
    target = _publish_target(config, f"{config.name}-corpus", "dataset")
    if target:
        done = [f"{target['to_dir']}/spp_export.json"] if "to_dir" in target else []
        steps.append(
            Step("publish-dataset", "publish", {"kind": "dataset", "path": corpus, **target}, [last], target, done)
        )
    return steps + _bind_steps(config) + _offline_data_steps(config)


def _offline_data_steps(config: ExperimentConfig) -> list[Step]:
    """The ``toy_data`` step (small chat set and benchmark files written offline) when the experiment asks for it."""
    if not config.toy_data:
        return []
    out = str(config.root / "data" / "toy")
    recipe = {"items_per_benchmark": int(config.toy_data.get("items_per_benchmark", 10)), "output_dir": out}
    return [Step("toy_data", "toy_data", recipe, [], {"data": out}, [f"{out}/chat.jsonl"])]


BIND_STEP = "bind-data"


def _bind_steps(config: ExperimentConfig) -> list[Step]:
    """The persona-binding data step (``bind`` section), or none."""
    if not config.bind:
        return []
    out = str(config.root / "data" / "bind")
    recipe = {**stage_recipe(config, "bind"), "output_dir": out}
    return [Step(BIND_STEP, "bind", recipe, [], {"dataset": out}, [f"{out}/spp.json"])]


def _wire_bind_output(config: ExperimentConfig, sft: dict[str, Any]) -> list[str]:
    """Point the SFT recipe's persona-binding dataset at the bind step's output; returns the inputs it adds.

    The dataset to replace is the one whose path is the bind recipe's own ``output_dir`` (where ``spp bind-data``
    writes when run by hand, and what the SFT recipe then reads); none such is an error, not a silent SFT without
    the data the plan builds."""
    if not config.bind:
        return []
    written = stage_recipe(config, "bind").get("output_dir", "outputs/bind-demo")
    out = str(config.root / "data" / "bind")
    datasets = [dict(d) if isinstance(d, dict) else d for d in sft.get("datasets") or []]
    hits = [d for d in datasets if isinstance(d, dict) and Path(str(d.get("path", ""))) == Path(written)]
    if not hits:
        raise SppConfigError(
            f"the experiment runs bind-data, but no dataset of the SFT recipe reads its output ({written})",
            field="sft.recipe",
            fix=f"list `- path: {written}` under datasets: in the SFT recipe, or drop the bind section",
        )
    for dataset in hits:
        dataset["path"] = out
    sft["datasets"] = datasets
    return [BIND_STEP]


def _share_contract(config: ExperimentConfig, augment: dict[str, Any]) -> None:
    """Augmentation makes reflections for the pretraining contract: its ``seq_len``/``reflection_budget`` are the
    pretrain recipe's (filled in when the augment recipe leaves them out; a different value is an error)."""
    from spp.errors import SppConfigError

    pretrain = stage_recipe(config, "pretrain", arm=config.arms[0]) if config.arms else {}
    for name in CONTRACT_FIELDS:
        if name not in pretrain:
            continue
        if name in augment and augment[name] != pretrain[name]:
            raise SppConfigError(
                f"augment makes reflections for {name} {augment[name]} but pretrain trains with {pretrain[name]}",
                field=name,
                fix="drop it from the augment recipe (the pretrain value is used) or make them equal",
            )
        augment[name] = pretrain[name]
    if not config.tokenizer and pretrain.get("tokenizer_name_or_path"):
        augment.setdefault("training_tokenizer", pretrain["tokenizer_name_or_path"])


def _arm_steps(config: ExperimentConfig, arm: str, has: set[str]) -> list[Step]:
    root, name = config.root, config.name
    base, instruct, results = (str(root / p) for p in (f"models/{arm}", f"models/{arm}-instruct", f"results/{arm}"))
    pretrain = stage_recipe(config, "pretrain", arm=arm)
    pretrain.update(arm=arm, dataset_path=corpus_path(config), output_dir=base)
    base_target = _publish_target(config, f"{name}-{arm}", "pretrain")
    pretrain.update(base_target)
    if "tokenizer" in has:
        pretrain["tokenizer_name_or_path"] = str(root / "data" / "tokenizer")
    data_inputs = ["augment-end" if _needs_end_placement(config) else "augment"]
    sft = {**stage_recipe(config, "sft", arm=arm), "model_name_or_path": base, "output_dir": instruct}
    bind = _wire_bind_output(config, sft)
    instruct_target = _publish_target(config, f"{name}-{arm}-instruct", "sft")
    sft.update(instruct_target)
    toy = ["toy_data"] if "toy_data" in has else []
    evaluation = {**stage_recipe(config, "eval", arm=arm), "model": instruct, "model_id": arm, "output_dir": results}
    results_file = [f"{results}/results.json"]
    attack = _attack_step(config, arm, instruct, [f"sft-{arm}", *toy], evaluation)
    return [
        Step(
            f"pretrain-{arm}",
            "pretrain",
            pretrain,
            data_inputs,
            {"model": base, **base_target},
            _model_files(base),
            arm,
        ),
        Step(
            f"sft-{arm}",
            "sft",
            sft,
            [f"pretrain-{arm}", *bind, *toy],
            {"model": instruct, **instruct_target},
            _model_files(instruct),
            arm,
        ),
        *attack,
        Step(
            f"eval-{arm}",
            "eval",
            evaluation,
            [f"sft-{arm}", *toy, *(s.name for s in attack)],
            {"results": results},
            results_file,
            arm,
        ),
    ]


def _attack_step(config: ExperimentConfig, arm: str, model: str, inputs: list[str], evaluation: dict) -> list[Step]:
    """The arm's attack step (an empty list without an ``attack`` section), wired into ``evaluation``'s files.

    ``harmbench`` in the eval's benchmarks needs test cases optimised against this arm's model: without an
    ``attack`` section (or explicit harmbench.test_cases files) the plan is refused, before anything runs. The
    attack optimises the prompt as the eval renders it: it gets the eval's ``revision`` and, unless it names a
    template of its own, the eval's ``chat_template``."""
    from spp.errors import SppConfigError
    from spp.eval.benchmarks import HEADLINE

    files = list(evaluation.get("benchmark_files") or [])
    if not config.attack:
        if "harmbench" in evaluation.get("benchmarks", HEADLINE) and not any(
            f.startswith("harmbench.test_cases=") for f in files
        ):
            raise SppConfigError(
                "eval runs harmbench, whose test cases are optimised against each arm's model, but there is no "
                "attack section",
                field="attack",
                fix="add attack: {recipe: recipes/attack/pez.yaml}, or evaluate harmbench_direct instead",
            )
        return []
    folder = config.root / "attacks" / arm
    output = str(folder / "test_cases.json")
    recipe = {**stage_recipe(config, "attack", arm=arm), "model": model, "output": output}
    if evaluation.get("revision"):
        recipe["revision"] = evaluation["revision"]
    if chat_template_spec(recipe.get("chat_template", "model")) == "model":
        recipe["chat_template"] = evaluation.get("chat_template", "model")
    evaluation["benchmark_files"] = [*files, f"harmbench.test_cases={output}"]
    done = [output, str(folder / "test_cases.attack.json")]
    return [Step(f"attack-{arm}", "attack", recipe, inputs, {"test_cases": str(folder)}, done, arm)]


def _model_steps(config: ExperimentConfig, has: set[str]) -> list[Step]:
    """``models``: per label its attack and eval steps on the given model (nothing trained)."""
    toy = ["toy_data"] if "toy_data" in has else []
    steps: list[Step] = []
    for label in config.arms:
        model, revision = config.model_of(label)
        results = str(config.root / "results" / label)
        evaluation = {**stage_recipe(config, "eval", arm=label), "model": model, "model_id": label, "label": label,
                      "output_dir": results}  # fmt: skip
        if revision:
            evaluation["revision"] = revision
        if config.release:
            evaluation.setdefault("release", config.release)
        attack = _attack_step(config, label, model, list(toy), evaluation)
        inputs = [*toy, *(s.name for s in attack)]
        done = [f"{results}/results.json"]
        steps += [*attack, Step(f"eval-{label}", "eval", evaluation, inputs, {"results": results}, done, label)]
    return steps


def _model_files(directory: str) -> list[str]:
    return [f"{directory}/model.safetensors", f"{directory}/spp.json"]


def build_plan(config: ExperimentConfig) -> list[Step]:
    """Every step of ``config`` in run order, each with its hash (see the module docstring)."""
    if config.models:
        steps = _offline_data_steps(config)
        steps += _model_steps(config, {s.name for s in steps})
    else:
        steps = _data_steps(config)
        has = {s.name for s in steps}
        for arm in config.arms:
            steps += _arm_steps(config, arm, has)
    out = str(config.root / "comparison")
    results = [s.outputs["results"] for s in steps if s.stage == "eval"]
    compare = {**stage_recipe(config, "compare"), "results": results, "output_dir": out}
    if config.release:
        compare.setdefault("reported", config.release)
    inputs = [s.name for s in steps if s.stage == "eval"]
    steps.append(Step("compare", "compare", compare, inputs, {"report": out}, [f"{out}/comparison.md"]))
    hashes: dict[str, str] = {}
    for step in steps:
        step.hash = recipe_hash(step.recipe, {"stage": step.stage, "inputs": [hashes[i] for i in step.inputs]})
        hashes[step.name] = step.hash
    return steps


# Precision flags are checked by the machine that trains, not the one that plans (a login node has no GPU).
DEVICE_FLAGS = {"bf16": False, "fp16": False, "tf32": None}


def check_plan(plan: list[Step], dry_run: bool = False) -> list[str]:
    """Every stage step's resolved recipe names only fields of that stage, and its values pass the stage's own checks
    (``spp.recipes.configs_from_recipe``: ranges, choices, files; the outputs of earlier steps count as present): a
    typo or a bad value in a stage recipe or in the experiment's ``overrides`` is refused before the first step runs,
    not hours later when that step starts. A dry run lists the missing input files (returned) instead of refusing
    them: a plan may be printed where the data is not."""
    import dataclasses

    from spp.stages import step_stage

    fields: dict[str, set[str]] = {}
    for step in plan:
        stage = step_stage(step.stage)
        if step.stage not in fields:  # a library step (no config types) has keys of its own
            fields[step.stage] = {f.name for t in stage.types() for f in dataclasses.fields(t)}
        known = fields[step.stage]
        unknown = sorted(set(step.recipe) - known - {"env"}) if known else []
        if unknown:
            raise SppConfigError(
                f"step {step.name}: unknown {step.stage} fields {unknown}",
                field=f"{step.stage}.overrides",
                fix=f"use the fields that `spp {stage.name} --help` lists (in the stage recipe or the experiment's "
                "overrides)",
            )
    return _check_step_values(plan, dry_run)


def _check_step_values(plan: list[Step], dry_run: bool) -> list[str]:
    from spp.errors import planned_paths
    from spp.recipes import configs_from_recipe
    from spp.stages import step_stage

    missing: list[str] | None = [] if dry_run else None
    with planned_paths((p for step in plan for p in step.outputs.values()), missing):
        for step in plan:
            stage = step_stage(step.stage)
            if not stage.config_types:
                continue
            types = stage.types()
            names = {f.name for t in types for f in dataclasses.fields(t)}
            recipe = {**step.recipe, **{k: v for k, v in DEVICE_FLAGS.items() if k in names}}
            try:
                # placeholders are listed by the dry run (``plan_placeholders``) and refused by the runner
                configs_from_recipe(types, recipe, set_env=False, check=False)
            except SppConfigError as err:
                raise SppConfigError(
                    f"step {step.name}: {err.detail}",
                    field=f"{step.stage}.{err.field}" if err.field else f"{step.stage}.overrides",
                    fix=err.fix or f"see `spp {stage.name} --help`",
                ) from err
    return sorted(set(missing or []))


def plan_placeholders(plan: list[Step], config: ExperimentConfig, steps: list[Step] | None = None) -> list[str]:
    """One line per placeholder value (``spp.recipes.placeholders``) the plan would run with: the experiment's own
    fields (``publish.hub_org``...) and each step's resolved recipe (grouped over steps; a value derived from an
    experiment field, e.g. a repo id under ``hub_org``, is named once, under that field). ``steps``: only these."""
    from spp.experiment.config import STAGE_SECTIONS
    from spp.recipes import placeholders

    own = [
        (name, value)
        for f in dataclasses.fields(config)
        if f.name not in STAGE_SECTIONS
        for name, value in placeholders(getattr(config, f.name), f.name)
    ]
    lines = [f"{name} = {value!r}  (experiment)" for name, value in own]
    grouped: dict[tuple[str, str], list[str]] = {}
    for step in plan if steps is None else steps:
        for name, value in placeholders(step.recipe):
            if not any(theirs in value for _, theirs in own):
                grouped.setdefault((name, value), []).append(step.name)
    lines += [f"{name} = {value!r}  ({', '.join(where)})" for (name, value), where in grouped.items()]
    return lines
