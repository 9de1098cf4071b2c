"""``spp experiment`` runs every stage through its run function (``spp.stages``) with config objects built in memory:
no stage CLI, no argv, no recipe parser, while the resolved recipes are still written to the run folder."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from spp import stages
from spp.experiment.cli import parse
from spp.experiment.plan import build_plan
from spp.experiment.runner import run_experiment

REPO = Path(__file__).parents[2]
CLI_MAINS = {
    "spp.data.score_cli": "main",
    "spp.data.augment_cli": "main",
    "spp.pretrain.cli": "main",
    "spp.sft.cli": "main",
    "spp.attack.cli": "main",
    "spp.eval.cli": "eval_main",
}


def _tiny_recipe(tmp_path: Path) -> Path:
    """recipes/experiments/tiny.yaml, shortened as tests/test_end_marker.py shortens it."""
    recipe = yaml.safe_load((REPO / "recipes/experiments/tiny.yaml").read_text())
    recipe["augment"]["overrides"].update(max_documents=200)
    recipe["pretrain"]["overrides"].update(max_steps=6, save_steps=6, logging_steps=3)
    recipe["pretrain"]["overrides"]["lr_scheduler_kwargs"] = {"num_decay_steps": 2, "decay_type": "linear"}
    recipe["sft"]["overrides"].update(max_steps=2)
    recipe["eval"]["overrides"].update(benchmarks=["advbench"], limit=3, bootstrap_samples=20)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _spy(name: str, stage: stages.Stage, calls: list):
    """``stage``'s run function, recording each call's arguments under ``name``."""
    real = stage.function()

    def spy(*args):
        calls.append((name, args))
        return real(*args)

    return spy


def _forbid(*_: object, **__: object) -> None:
    raise AssertionError("a stage step went through argv parsing")


@pytest.mark.slow
def test_every_stage_run_gets_its_config_objects_and_no_argv_is_parsed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)  # the experiment recipe names the repository's stage recipes
    out = tmp_path / "exp"
    config = parse(["--config", str(_tiny_recipe(tmp_path)), "--output_dir", str(out), "--arms", "spp_t0"])

    import importlib

    import trl

    import spp.cli
    import spp.recipes

    for stage in stages.STAGES.values():  # imported before parse_config is patched: each binds the real one
        targets = [f"{stage.doc}:" if stage.doc else None, stage.run_target]
        for target in targets:
            if isinstance(target, str):
                importlib.import_module(target.split(":")[0])
    for module, name in CLI_MAINS.items():
        monkeypatch.setattr(importlib.import_module(module), name, _forbid)
    monkeypatch.setattr(trl.TrlParser, "parse_args_and_config", _forbid)
    monkeypatch.setattr(spp.recipes, "parse_config", _forbid)
    monkeypatch.setattr(spp.cli, "parse_config", _forbid)
    calls: list[tuple[str, tuple]] = []
    for name, stage in list(stages.STAGES.items()):
        if stage.run_target is not None:
            spy = _spy(stage.step or name, stage, calls)
            monkeypatch.setitem(stages.STAGES, name, dataclasses.replace(stage, run_target=spy))

    statuses = run_experiment(config)

    plan = build_plan(config)
    assert statuses == {step.name: "done" for step in plan}
    assert sorted(name for name, _ in calls) == sorted(step.stage for step in plan)
    assert {"augment", "pretrain", "sft", "attack", "eval", "compare"} <= {name for name, _ in calls}
    for name, args in calls:
        stage = stages.step_stage(name)
        types = stage.types()
        if not types:  # a library step: its recipe mapping and its outputs
            assert [type(a) for a in args] == [dict, dict], name
            continue
        if stage.bundle is not None:
            (bundle,) = args
            assert isinstance(bundle, stages.load_target(stage.bundle)), name
            args = tuple(getattr(bundle, f.name) for f in dataclasses.fields(bundle))
        assert len(args) == len(types) and all(isinstance(a, t) for a, t in zip(args, types, strict=True)), name

    # each step's resolved recipe is in the run folder, and the configs it was run with hold its values
    for step in plan:
        written = yaml.safe_load(step.recipe_path(config).read_text())
        assert written == step.recipe, step.name
    (sft,) = next(args for name, args in calls if name == "sft")
    assert sft.output_dir == str(out / "models" / "spp_t0-instruct") and sft.max_steps == 2
    results = json.loads((out / "results" / "spp_t0" / "results.json").read_text())
    assert results["benchmarks"]["advbench"]["n"] == 3
    assert (out / "comparison" / "comparison.md").is_file()
    # what each stage's CLI says about its result is printed under the step, from the run's own result
    printed = capsys.readouterr().out
    assert f"    mean ASR {100 * results['headline']['mean']:.1f}%\n" in printed
    sft_meta = json.loads((out / "models" / "spp_t0-instruct" / "spp.json").read_text())
    assert f"(sft_hash {sft_meta['sft_hash']}, arm spp_t0" in printed
    assert "    rows: " in printed and "selected: " in printed  # augment's summary


def test_a_stage_result_that_reports_a_failure_stops_the_experiment(tmp_path, monkeypatch):
    """A run function's ``failure`` (augment: too many documents failed, the CLI's exit 3) raises, as a nonzero exit
    code of the stage did: the step stays ``running`` and nothing downstream runs."""
    from spp.data.augment_run import AugmentResult
    from spp.experiment.config import load_experiment
    from spp.experiment.runner import ExperimentState

    ran: list[str] = []

    def augment(configs):
        ran.append(type(configs).__name__)
        return AugmentResult(Path(configs.job.output_dir), failure="12 of 30 selected documents failed")

    def library(recipe, outputs):
        ran.append(next(iter(outputs)))

    monkeypatch.setitem(stages.STAGES, "augment", dataclasses.replace(stages.STAGES["augment"], run_target=augment))
    for name in ("tokenizer", "toy_data", "publish"):
        monkeypatch.setitem(stages.STAGES, name, dataclasses.replace(stages.STAGES[name], run_target=library))
    config = load_experiment("demo", output_dir=str(tmp_path), until="pretrain")
    with pytest.raises(RuntimeError, match="augment failed: 12 of 30 selected documents failed"):
        run_experiment(config)
    assert ran == ["tokenizer", "AugmentConfigs"]
    assert ExperimentState(config.root).steps["augment"]["status"] == "running"
    assert (tmp_path / "recipes" / "augment.yaml").is_file()


def test_a_training_step_on_several_gpus_launches_accelerate_on_the_recipe_it_wrote(tmp_path, monkeypatch):
    """``gpus_per_machine`` > 1: the pretraining step runs ``accelerate launch ... --config <recipe>`` as a real
    command line, and that recipe file holds the step's resolved recipe when the command starts."""
    from spp.experiment import runner
    from spp.experiment.config import load_experiment

    launched: list[tuple[list[str], dict]] = []

    def fake_run(command, check):
        recipe = Path(command[command.index("--config") + 1])
        launched.append((command, yaml.safe_load(recipe.read_text())))

    monkeypatch.setattr(runner.subprocess, "run", fake_run)
    monkeypatch.setattr(runner, "check_matched_arms", lambda plan, statuses: None)
    config = load_experiment("demo", output_dir=str(tmp_path), arms=["spp_t0"], gpus_per_machine=2, until="pretrain")
    plan = {step.name: step for step in build_plan(config)}
    state = runner.ExperimentState(config.root)
    for step in plan.values():
        if step.stage != "pretrain":
            state.record(step, "done")
            for file in step.done_files:
                Path(file).parent.mkdir(parents=True, exist_ok=True)
                Path(file).write_text(json.dumps({"kind": "dataset"}))
    assert run_experiment(config)["pretrain-spp_t0"] == "done"
    ((command, recipe),) = launched
    assert command[:2] == ["accelerate", "launch"] and command[command.index("--num_processes") + 1] == "2"
    assert command[command.index("-m") + 1 :][:2] == ["spp", "pretrain"]
    assert recipe == plan["pretrain-spp_t0"].recipe
