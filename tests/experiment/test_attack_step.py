"""The attack step of ``spp experiment``: per arm, before that arm's eval, wired into its harmbench test cases,
run, recorded, skipped when unchanged, resumed from finished behaviours; the dry run lists it with its cost."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from spp.demo import DEMO_RECIPE
from spp.demo.toydata import write_toy_data
from spp.errors import SppConfigError
from spp.experiment import build_plan, load_experiment, run_experiment
from spp.experiment.cli import experiment_main
from spp.experiment.runner import ExperimentState
from spp.metadata import SppMetadata
from spp.persona import load_persona
from spp.testing.plan_table import table_rows

REPO = Path(__file__).parents[2]
PAPER = REPO / "recipes" / "experiments" / "paper_1.7b.yaml"


def test_attack_runs_before_eval_and_feeds_it_and_its_recipe_is_in_the_hash(tmp_path):
    config = load_experiment("demo", output_dir=str(tmp_path))
    steps = {s.name: s for s in build_plan(config)}
    attack, evaluation = steps["attack-spp_t0"], steps["eval-spp_t0"]
    assert attack.inputs[0] == "sft-spp_t0" and "attack-spp_t0" in evaluation.inputs
    assert attack.recipe["model"] == steps["sft-spp_t0"].outputs["model"]
    output = str(tmp_path / "attacks" / "spp_t0" / "test_cases.json")
    assert (
        attack.recipe["output"] == output and f"harmbench.test_cases={output}" in evaluation.recipe["benchmark_files"]
    )
    before = {s.name: s.hash for s in steps.values()}
    config.attack["overrides"]["num_steps"] = 11
    after = {s.name: s.hash for s in build_plan(config)}
    assert {n for n in before if before[n] != after[n]} == {
        "attack-baseline", "eval-baseline", "attack-spp_t0", "eval-spp_t0", "compare"
    }  # fmt: skip

    with pytest.raises(SppConfigError, match="no attack section") as err:
        build_plan(load_experiment("demo", output_dir=str(tmp_path), attack={}))
    assert "harmbench_direct" in str(err.value)


def test_paper_dry_run_lists_an_attack_step_per_arm(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert experiment_main(["--config", str(PAPER), "--dry_run", "true"]) == 0
    out = capsys.readouterr().out
    arms = load_experiment(PAPER).arms
    rows = {r["step"]: r for r in table_rows(out)}
    for arm in arms:
        assert rows[f"attack-{arm}"]["stage"] == "attack" and rows[f"attack-{arm}"]["GPU-hours"] == "not measured"
        # the behaviours file is not on disk yet: the authors' 159 standard behaviours, as the eval's estimate counts
        assert rows[f"attack-{arm}"]["tokens / generations"] == "159 x 5 x 500"
        assert f"attack-{arm}: pez, behaviours: 159 (the authors' 159 behaviours; the file is not readable yet)" in out
    # the authors' HarmBench PEZ config: 500 steps (spp.attack.pez defaults to 100)
    assert out.count("5 test cases x 500 steps; device-hours: not measured") == len(arms)


def test_paper_dry_run_estimates_attack_hours_at_the_authors_500_steps(capsys, monkeypatch, tmp_path):
    """With the behaviours file in place and a measured figure, the estimate is behaviours x 5 test cases x 500
    steps at the figure's rate (a recipe left at 100 steps would show a fifth of it)."""
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data" / "benchmarks"
    data.mkdir(parents=True)
    rows = [f"Do harm {i},standard,chemical,,,b{i}" for i in range(4)]
    header = "Behavior,FunctionalCategory,SemanticCategory,Tags,ContextString,BehaviorID"
    (data / "harmbench_behaviors_text_test.csv").write_text("\n".join([header, *rows]) + "\n")
    (data / "harmbench_targets_text.json").write_text(json.dumps({f"b{i}": "Sure, here is" for i in range(4)}))
    figure = {"method": "pez", "model": "tiny", "test_case_steps_per_s": 50.0, "hardware": "test CPU"}
    (tmp_path / "throughput.json").write_text(json.dumps({"attack": {"fig": figure}}))
    argv = ["--config", str(PAPER), "--dry_run", "true", "--throughput_file", "throughput.json"]
    assert experiment_main([*argv, "--attack_throughput_figure", "fig"]) == 0
    out = capsys.readouterr().out
    hours = 4 * 5 * 500 / 50.0 / 3600
    arms = load_experiment(PAPER).arms
    assert out.count(f"pez, behaviours: 4 x 5 test cases x 500 steps; {hours:,.2f} device-hours") == len(arms)
    rows = {r["step"]: r for r in table_rows(out)}
    assert all(rows[f"attack-{arm}"]["GPU-hours"] == f"{hours:,.2f}" for arm in arms)


def test_dry_run_counts_attack_hours_from_a_measured_figure(capsys, tmp_path):
    figure = {"method": "pez", "model": "tiny", "test_case_steps_per_s": 40.0, "hardware": "test CPU"}
    throughput = tmp_path / "throughput.json"
    throughput.write_text(json.dumps({"attack": {"cpu-tiny-pez": figure}}))
    out = tmp_path / "exp"
    write_toy_data(out / "data" / "toy", 10)  # the behaviours file the attack reads
    config = load_experiment("demo", output_dir=str(out), dry_run=True, throughput_file=str(throughput),
                             attack_throughput_figure="cpu-tiny-pez")  # fmt: skip
    run_experiment(config)
    text = capsys.readouterr().out
    hours = 10 * 1 * 10 / 40.0 / 3600  # the demo: 10 behaviours x 1 test case x 10 steps
    assert text.count(f"pez, behaviours: 10 x 1 test cases x 10 steps; {hours:,.2f} device-hours") == 2
    assert "figure 'cpu-tiny-pez' (40.0 test-case steps/s, test CPU; tiny)" in text


def _pretend_upstream_done(config, model: Path) -> None:
    """Mark every step before the attacks finished; the arm's instruct model is a prebuilt tiny chat model."""
    state = ExperimentState(config.root)
    for step in build_plan(config):
        if step.stage in ("attack", "eval", "compare"):
            continue
        if step.stage == "toy_data":
            write_toy_data(step.outputs["data"], 10)
        elif step.stage == "sft":
            shutil.copytree(model, step.outputs["model"])
            meta = {"persona": load_persona().to_dict(), "sft_hash": "s" * 64, "arm": step.arm}
            SppMetadata(kind="instruct_model", **meta).save(step.outputs["model"])
        for file in step.done_files:
            Path(file).parent.mkdir(parents=True, exist_ok=True)
            if not Path(file).exists():
                Path(file).write_text(json.dumps({"kind": "dataset"}))
        state.record(step, "done")


def test_experiment_runs_attack_then_eval_skips_them_when_unchanged(tiny_chat_model, tmp_path, capsys):
    config = load_experiment("demo", output_dir=str(tmp_path), arms=["spp_t0"], until="eval")
    _pretend_upstream_done(config, tiny_chat_model)
    statuses = run_experiment(config)
    assert statuses["attack-spp_t0"] == "done" and statuses["eval-spp_t0"] == "done"
    cases = json.loads((tmp_path / "attacks" / "spp_t0" / "test_cases.json").read_text())
    assert list(cases) == [f"toy{i}" for i in range(10)] and all(len(v) == 1 for v in cases.values())
    results = json.loads((tmp_path / "results" / "spp_t0" / "results.json").read_text())
    harmbench = results["benchmarks"]["harmbench"]
    demo_tokens = yaml.safe_load(DEMO_RECIPE.read_text())["eval"]["overrides"]["max_new_tokens"]
    assert harmbench["n"] == 10 and harmbench["max_new_tokens"] == demo_tokens  # the recipe's, not HarmBench's 512
    assert harmbench["test_cases"][0]["attack"] == "pez" and harmbench["test_cases"][0]["matches_attack_record"]
    assert harmbench["attack_origin"] == "own"  # the attack record's model fingerprint is the evaluated model's
    provenance = json.loads((tmp_path / "provenance.json").read_text())["arms"]["spp_t0"]["attack"]
    assert provenance["attack"] == "pez" and provenance["hyperparameters"]["num_steps"] == 10
    capsys.readouterr()

    assert run_experiment(config)["attack-spp_t0"] == "done"
    out = capsys.readouterr().out
    assert "attack-spp_t0: up to date" in out and "eval-spp_t0: up to date" in out

    # an attack step killed after some behaviours: the rerun keeps them (the state says running, same hash)
    work = tmp_path / "attacks" / "spp_t0" / "test_cases_behaviors"
    kept = sorted(work.glob("toy*.json"))[:4]
    stamps = {p: p.stat().st_mtime_ns for p in kept}
    for p in sorted(set(work.glob("toy*.json")) - set(kept)):
        p.unlink()
    (tmp_path / "attacks" / "spp_t0" / "test_cases.json").unlink()
    state = ExperimentState(config.root)
    state.record(next(s for s in build_plan(config) if s.name == "attack-spp_t0"), "running")
    assert run_experiment(config)["attack-spp_t0"] == "done"
    assert all(p.stat().st_mtime_ns == stamps[p] for p in kept)
    record = json.loads((tmp_path / "attacks" / "spp_t0" / "test_cases.attack.json").read_text())
    assert record["run"] == {**record["run"], "behaviors_skipped": 4, "behaviors_run": 6}
