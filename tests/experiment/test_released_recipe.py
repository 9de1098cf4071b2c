"""``recipes/experiments/released_1.7b.yaml``: Figure 1 from the released instruct models. Its dry run (offline), and
the recipe run end to end with its ``models`` pointed at the release stand-ins (``spp.testing.release``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from spp.errors import SppConfigError
from spp.experiment import load_experiment, run_experiment
from spp.experiment.cli import experiment_main
from spp.testing.plan_table import table_rows
from spp.testing.release import ARMS, instruct_repo

REPO = Path(__file__).parents[2]
RELEASED = REPO / "recipes" / "experiments" / "released_1.7b.yaml"


def test_dry_run_lists_five_models_attack_eval_compare_downloads_work_and_estimate(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no data/benchmarks here: counts come from the protocol, nothing is fetched
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert experiment_main(["--config", str(RELEASED), "--dry_run", "true"]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    steps = [(r["step"], r["stage"]) for r in rows]
    assert steps == [s for arm in ARMS for s in ((f"attack-{arm}", "attack"), (f"eval-{arm}", "eval"))] + [
        ("compare", "compare"), ("total", "")
    ]
    assert [r["tokens / generations"] for r in rows if r["stage"] == "eval"] == ["5,034 generations"] * 5
    assert rows[-1]["tokens / generations"] == "25,170 generations" and rows[-1]["GPU-hours"] == "not measured"
    # per model: 4,239 generations by the protocol's counts + 159 x 5 PEZ test cases; judge calls per judge type
    for arm in ARMS:
        line = f"eval-{arm}: 5,034 generations (advbench 520, dan 1,600, pap 50, jbb_artifacts 500, harmbench 795"
        assert line in out
    assert out.count("judge calls: llm 4,239, classifier 795") == 5
    # the attack line counts the behaviours the eval's 795 PEZ test cases come from
    assert out.count("pez, behaviours: 159 (the authors' 159 behaviours; the file is not readable yet) x 5 test cases x 500 steps") == 5
    for arm in ARMS:  # the download, sized from the registry's shape (1.71B parameters in bfloat16), unverified
        assert f"{arm:<10} {instruct_repo(arm)}@main: 3.42 GB (Hub; estimated from dlab-spp's shape" in out
    assert "all models: 25,170 generations" in out and "UNVERIFIED" in out
    estimate = out.split("estimate:")[1]
    assert "not measured: eval-vanilla generation, attack-vanilla optimisation" in estimate
    assert "GPU-hours: a compute lower bound" in estimate and "h100-spp-trainer-mb8" in estimate
    assert not (tmp_path / "runs").exists()


def test_models_replace_the_training_arms_and_refuse_training_sections(tmp_path):
    with pytest.raises(SppConfigError, match="would not run"):
        load_experiment(RELEASED, output_dir=str(tmp_path), pretrain={"recipe": "recipes/pretrain/tiny.yaml"})
    with pytest.raises(SppConfigError, match="models.t0"):
        load_experiment(RELEASED, output_dir=str(tmp_path), models={"t0": {"model": "x/y", "revsion": "main"}})


@pytest.mark.slow
def test_the_released_recipe_runs_end_to_end_on_the_stand_ins(release, hub, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    recipe = yaml.safe_load(RELEASED.read_text())
    toy = str(tmp_path / "run" / "data" / "toy" / "benchmarks")
    models = {arm: {"model": str(release.instruct(arm)), "revision": "main"} for arm in ARMS}
    models["t0"] = {"model": instruct_repo("t0"), "revision": "main"}  # one through the (stubbed) Hub
    recipe["attack"]["overrides"].update(
        behaviors=f"{toy}/harmbench_behaviors_text_all.csv", targets=f"{toy}/harmbench_targets_text.json",
        functional_categories=[], limit=2, num_steps=2, num_test_cases_per_behavior=1, behaviors_per_batch=2,
        device="cpu", dtype="float32",
    )  # fmt: skip
    recipe["eval"]["overrides"].update(
        data_dir=toy, judge_all="keyword", benchmark_options={}, limit=2, max_new_tokens=4, device="cpu",
        benchmarks=["advbench", "dan", "pap", "jbb_artifacts", "harmbench", "xstest"], bootstrap_samples=50,
        judge_base_urls=[], judge_model="",
    )  # fmt: skip
    recipe.update(models=models, output_dir=str(tmp_path / "run"), toy_data={"items_per_benchmark": 4})
    statuses = run_experiment(load_experiment(_write(tmp_path, recipe), recipe_dir=str(REPO)))
    assert set(statuses.values()) == {"done"} and len(statuses) == 12  # toy data, 5 x (attack, eval), compare
    for arm in ARMS:
        results = json.loads((tmp_path / "run" / "results" / arm / "results.json").read_text())
        assert results["metadata"] == "external" and results["arm"] == arm and results["model_sha"]
        assert results["chat_template"]["name"] == "default"
        attack = json.loads((tmp_path / "run" / "attacks" / arm / "test_cases.attack.json").read_text())
        assert attack["chat_template"] == results["chat_template"]  # the prompt optimised is the prompt evaluated
    comparison = tmp_path / "run" / "comparison"
    png = (comparison / "figure1.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    figure = (comparison / "figure1.md").read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in figure.splitlines() if line.startswith("| ")}
    assert list(rows)[1:] == list(ARMS)  # header, then the arms in the registry's order
    assert rows["t0"].endswith("| 1.7 | −63% |") and rows["vanilla"].endswith("| – | – |")
    assert "As reported:" in figure and "not measured here" in figure and "smoke judge" in figure
    assert "(external)" in (comparison / "comparison.md").read_text()


def _write(tmp_path: Path, recipe: dict) -> Path:
    path = tmp_path / "released.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path
