"""Run a plan: each step in order through its stage's run function (``spp.stages``), with configs built in memory
from its resolved recipe, skipping finished steps and resuming the rest.

Promises:
- A step is skipped only when ``experiment_state.json`` records it finished with the step's current hash and every
  one of its ``done_files`` exists; otherwise it runs again (a step recorded with another hash has its outputs under
  ``output_dir`` removed first, so nothing stale is mixed in).
- A pretraining step resumes from the last ``checkpoint-*`` of its output folder when its hash is unchanged; an
  attack step resumes from its finished behaviours (``spp.attack.store``).
- Training steps with ``launch: print`` (or on several machines) print their ``accelerate launch`` command instead,
  and a sharded augment step (``augment_shards`` > 1) its per-shard and merge lines; such steps are recorded
  ``launched`` and a rerun picks up once their outputs exist.
- Every step's resolved recipe is written to ``<output_dir>/recipes/<step>.yaml`` before it runs (provenance; the
  launch commands pass it to ``--config``); a step run here never goes through a CLI or an argv.
- ``provenance.json`` is rewritten after every step: dataset -> base model -> instruct model -> results.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

import yaml

from spp.experiment.config import ExperimentConfig
from spp.experiment.launch import launch_command, step_commands
from spp.experiment.plan import Step
from spp.experiment.provenance import write_provenance
from spp.experiment.state import ExperimentState

logger = logging.getLogger("spp.experiment")


def _last_checkpoint(directory: str | Path) -> str | None:
    """The ``checkpoint-N`` folder with the largest N (``transformers.trainer_utils.get_last_checkpoint``), or
    ``None`` when there is none (or no folder yet)."""
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(directory)) if Path(directory).is_dir() else None


def _clear_stale(step: Step, config: ExperimentConfig) -> None:
    """Remove what spp wrote at the outputs under ``output_dir`` of a step that last ran with another recipe hash
    (``spp.ownership.clear_output``: a claimed folder's manifest; ``spp.hub.owners.clear_export``: an export's
    refs); anything else stays."""
    from spp.hub.owners import clear_export
    from spp.ownership import clear_output

    root = config.root.resolve()
    for path in map(Path, step.outputs.values()):
        if path.exists() and path.resolve().is_relative_to(root) and path.resolve() != root:
            removed = clear_output(path) + clear_export(path)
            logger.warning("%s: recipe changed since its last run; removed %s from %s", step.name, removed, path)


def write_step_recipe(step: Step, config: ExperimentConfig) -> Path:
    """Write ``step``'s resolved recipe to the run folder (provenance, and what a launch command passes to
    ``--config``); returns its path."""
    path = step.recipe_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {step.name}: written by spp experiment (hash {step.hash})\n" + yaml.safe_dump(step.recipe))
    return path


def _run_stage(step: Step, config: ExperimentConfig, resume: bool) -> None:
    """Run ``step`` in this process: its stage's run function (``spp.stages``) called with the configs built in
    memory from the resolved recipe (no argv), after that recipe is written to the run folder. A pretraining step
    resumes from its last checkpoint; an attack step resumes by itself (finished behaviours are skipped). A result
    whose ``failure`` is set raises ``RuntimeError``; else its summary (what the stage's CLI prints) is printed."""
    from spp.recipes import configs_from_recipe
    from spp.stages import step_stage

    stage = step_stage(step.stage)
    path = write_step_recipe(step, config)
    if not stage.config_types:  # a library step with keys of its own
        stage.function()(step.recipe, step.outputs)
        return
    configs = configs_from_recipe(stage.types(), step.recipe, source=str(path))
    if step.stage == "pretrain":
        checkpoint = _last_checkpoint(step.outputs["model"]) if resume else None
        if checkpoint is not None:
            print(f"    resuming from {checkpoint}", flush=True)
            model_args, data_args, training_args = configs
            training_args.resume_from_checkpoint = str(checkpoint)
    result = stage.run(configs)
    if failure := getattr(result, "failure", None):
        raise RuntimeError(f"{step.name} failed: {failure}")
    if summary := stage.summary(result):
        print("    " + summary.replace("\n", "\n    "), flush=True)


def tokenizer_step(recipe: dict, outputs: dict[str, str]) -> None:
    """The ``tokenizer`` step: ``train_corpus_tokenizer`` into ``outputs["tokenizer"]``."""
    train_corpus_tokenizer(recipe, outputs["tokenizer"])


def train_corpus_tokenizer(recipe: dict, output_dir: str) -> None:
    """A byte-level BPE tokenizer trained on the source documents (``dataset``, ``text_column``, ``max_documents``,
    ``vocab_size``), saved to ``output_dir``: augmentation then measures reflections in its tokens."""
    from spp.data.sources import SourceConfig, load_source
    from spp.pretrain.tokenizer import train_tokenizer

    source = SourceConfig(
        dataset=recipe["dataset"], text_column=recipe["text_column"], max_documents=recipe.get("max_documents")
    )
    data = load_source(source)
    texts = [t for t in data[source.text_column] if t]
    train_tokenizer(texts, recipe["vocab_size"]).save_pretrained(output_dir)


def _must_print(step: Step, config: ExperimentConfig) -> bool:
    return step.sharded or (step.training and (config.launch == "print" or config.num_machines > 1))


def _launch_subprocess(step: Step, config: ExperimentConfig, resume: bool) -> None:
    """Several GPUs on this machine: run the step's ``accelerate launch`` command and wait for it."""
    command = launch_command(step, config)
    checkpoint = _last_checkpoint(step.outputs["model"]) if resume and step.stage == "pretrain" else None
    if checkpoint is not None:
        command += ["--resume_from_checkpoint", str(checkpoint)]
    subprocess.run(command, check=True)


def check_matched_arms(plan: list[Step], statuses: dict[str, str]) -> None:
    """Refuse (``SppConfigError``) to go on when two finished pretraining steps recorded different data-view hashes
    in their ``spp.json``: their arms would not be data-matched, and every later comparison would say so."""
    from spp.errors import SppConfigError
    from spp.metadata import read_metadata

    views: dict[str, str] = {}
    for step in plan:
        if step.stage != "pretrain" or statuses.get(step.name) != "done":
            continue
        meta = read_metadata(step.outputs["model"])
        view = meta.details.get("data_view_hash") if meta else None
        if view is not None:
            views[step.arm or step.name] = view
    if len(set(views.values())) > 1:
        listing = ", ".join(f"{arm}: {view}" for arm, view in views.items())
        raise SppConfigError(
            f"the arms' data-view hashes differ ({listing}): they were not pretrained on the same data view",
            field="pretrain",
            fix="give every arm the same pretrain recipe except the arm (corpus, tokenizer, seq_len, budget, layout, "
            "seed, batch)",
        )


def run_plan(plan: list[Step], config: ExperimentConfig) -> dict[str, str]:
    """Run ``plan`` (see the module docstring); returns each step's final status."""
    state, statuses = ExperimentState(config.root), {}
    for number, step in enumerate(plan, 1):
        head = f"[{number}/{len(plan)}] {step.name}"
        blocked = [i for i in step.inputs if statuses.get(i) != "done"]
        if step.stage != "pretrain":
            check_matched_arms(plan, statuses)
        if config.until and _past_until(step, config.until):
            statuses[step.name] = "not run"
            continue
        if state.is_done(step):
            statuses[step.name] = "done"
            print(f"{head}: up to date (hash {step.hash[:12]}), skipped", flush=True)
            continue
        if blocked:
            statuses[step.name] = "blocked"
            print(f"{head}: waiting for {', '.join(blocked)}", flush=True)
            continue
        statuses[step.name] = _run_step(step, config, state, head)
        write_provenance(plan, config, state)
    return statuses


# The order of stages in a study; ``--until STAGE`` runs no step of a later stage, whatever its arm.
RUN_ORDER = (
    "score", "tokenizer", "augment", "publish", "toy_data", "bind", "pretrain", "sft", "attack", "eval", "compare",
)  # fmt: skip


def check_placeholders(plan: list[Step], config: ExperimentConfig) -> None:
    """Refuse (``SppConfigError``, exit 2) a run whose steps (up to ``until``) hold a placeholder value, before the
    first step runs; the dry run lists them under "needs a value"."""
    from spp.errors import SppConfigError
    from spp.experiment.plan import plan_placeholders

    steps = [s for s in plan if not (config.until and _past_until(s, config.until))]
    lines = plan_placeholders(plan, config, steps)
    if lines:
        raise SppConfigError(
            "needs a value (placeholders left for you to fill in): " + "; ".join(lines),
            field=lines[0].split(" = ")[0],
            fix="set each in the experiment recipe (or its stage recipe / overrides); --dry_run true lists them",
        )


def _past_until(step: Step, until: str) -> bool:
    return RUN_ORDER.index(step.stage) > RUN_ORDER.index(until)


def _run_step(step: Step, config: ExperimentConfig, state: ExperimentState, head: str) -> str:
    entry = state.entry(step)
    resume = entry.get("hash") == step.hash
    if entry and not resume:
        _clear_stale(step, config)
    if _must_print(step, config):
        write_step_recipe(step, config)
        lines = "\n    ".join(step_commands(step, config))
        print(f"{head}: launch on the cluster, then rerun spp experiment:\n    {lines}")
        state.record(step, "launched")
        return "launched"
    print(f"{head}: running ...", flush=True)
    start = time.perf_counter()
    state.record(step, "running")
    if step.training and config.num_gpus > 1:
        write_step_recipe(step, config)
        _launch_subprocess(step, config, resume)
    else:
        _run_stage(step, config, resume)
    seconds = round(time.perf_counter() - start, 1)
    state.record(step, "done", seconds=seconds)
    print(f"{head}: done in {seconds} s", flush=True)
    return "done"


def run_experiment(config: ExperimentConfig) -> dict[str, str]:
    """Plan ``config`` and print it (``dry_run``) or run it; returns each step's status (empty on a dry run)."""
    from spp.experiment.plan import build_plan, check_plan
    from spp.experiment.summary import format_locations, format_plan

    plan = build_plan(config)
    missing = check_plan(plan, dry_run=config.dry_run)  # the whole plan, before the first step (and in the dry run)
    if config.dry_run:
        print(format_plan(plan, config))
        if missing:
            print(f"\ninput files not found here (the run needs them): {', '.join(missing)}")
        return {}
    check_placeholders(plan, config)
    statuses = run_plan(plan, config)
    print(format_locations(plan, config))
    waiting = [name for name, status in statuses.items() if status in ("launched", "blocked")]
    if waiting:
        print(f"\nwaiting for {', '.join(waiting)}: run the printed commands, then rerun spp experiment")
    return statuses
