"""The study wires persona binding: bind-data runs before the SFT steps and the SFT reads its output (in the plan and
its hashes); a variant uses the released mixes; a placeholder value stops a run (exit 2) and the dry run lists it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from spp.cli import main as spp_main
from spp.errors import SppConfigError
from spp.experiment import build_plan, load_experiment
from spp.testing.plan_table import table_rows

REPO = Path(__file__).parents[2]
PAPER = REPO / "recipes" / "experiments" / "paper_1.7b.yaml"
VARIANT = REPO / "recipes" / "experiments" / "paper_1.7b_released_sft.yaml"
PLACEHOLDER = re.compile(r"ORG/|your-org")


def test_the_paper_dry_run_lists_bind_data_before_the_sft_steps_and_what_needs_a_value(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert spp_main(["experiment", "--config", str(PAPER), "--dry_run", "true"]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    names = [r["step"] for r in rows]
    sft = [i for i, r in enumerate(rows) if r["stage"] == "sft"]
    assert names.index("bind-data") < min(sft) and len(sft) == 5
    assert all("bind-data" in rows[i]["depends on"].split(", ") for i in sft)
    needs = out.split("needs a value")[1]
    assert "judge_model = 'your-harm-score-judge'" in needs and not PLACEHOLDER.search(out)
    assert not (tmp_path / "runs").exists()


def test_no_shipped_recipe_holds_an_org_placeholder_outside_comments():
    found = []
    for path in sorted((REPO / "recipes").rglob("*")):
        if not path.is_file() or path.name == "README.md":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split(" #")[0] if not line.lstrip().startswith("#") else ""
            if PLACEHOLDER.search(code):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not found, found


def test_the_sft_steps_read_the_bind_output_and_their_hashes_follow_the_bind_recipe(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    config = load_experiment(PAPER, output_dir=str(tmp_path / "run"))
    plan = {s.name: s for s in build_plan(config)}
    bind = plan["bind-data"]
    assert bind.recipe["output_dir"] == str(tmp_path / "run" / "data" / "bind")
    assert bind.recipe["selfplay_conversations"] == 100_000 and bind.recipe["num_prompts"] == 300_000
    for arm in config.arms:
        sft = plan[f"sft-{arm}"]
        assert [d["path"] for d in sft.recipe["datasets"]] == ["allenai/tulu-3-sft-mixture", bind.outputs["dataset"]]
        assert "bind-data" in sft.inputs
    config.bind["overrides"]["num_prompts"] = 200_000
    changed = {s.name: s.hash for s in build_plan(config)}
    assert all(changed[f"sft-{arm}"] != plan[f"sft-{arm}"].hash for arm in config.arms)
    assert all(changed[f"pretrain-{arm}"] == plan[f"pretrain-{arm}"].hash for arm in config.arms)


def test_a_bind_section_whose_output_no_sft_dataset_reads_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    config = load_experiment(VARIANT, output_dir=str(tmp_path), bind={"recipe": "recipes/bind/authors.yaml"})
    with pytest.raises(SppConfigError, match="no dataset of the SFT recipe reads its output"):
        build_plan(config)


def test_the_released_variant_is_the_paper_study_with_the_released_sft_mixes():
    from spp.recipes import load_recipe

    paper, variant = (load_recipe(p) for p in (PAPER, VARIANT))
    differs = {k for k in paper.keys() | variant.keys() if paper.get(k) != variant.get(k)}
    assert differs == {"name", "output_dir", "bind", "sft"}
    assert variant["bind"] == {} and variant["sft"] == {"recipe": "recipes/sft/released.yaml"}
    assert yaml.safe_load(VARIANT.read_text())["base"] == PAPER.name  # it derives: nothing else is restated


def test_a_placeholder_stops_a_run_with_exit_2_naming_the_field(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    data = yaml.safe_load((REPO / "recipes" / "experiments" / "tiny.yaml").read_text())
    data.update(output_dir=str(tmp_path / "run"), publish={"hub_org": "your-org"})
    recipe = tmp_path / "exp.yaml"
    recipe.write_text(yaml.safe_dump(data))
    assert spp_main(["experiment", "--config", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "field 'publish.hub_org'" in err and "needs a value" in err
    assert not (tmp_path / "run" / "experiment_state.json").exists()  # nothing ran
    assert spp_main(["experiment", "--config", str(recipe), "--dry_run", "true"]) == 0
    assert "publish.hub_org = 'your-org'  (experiment)" in capsys.readouterr().out
    # a stage run: the same rule, at parse time
    assert spp_main(["bind-data", "--output_dir", str(tmp_path / "b"), "--hub_repo_id", "ORG/persona-binding"]) == 2
    assert "field 'hub_repo_id'" in capsys.readouterr().err and not (tmp_path / "b").exists()


def test_the_bind_stage_runs_from_its_resolved_recipe_as_the_experiment_runs_it(tmp_path, monkeypatch):
    from spp.recipes import configs_from_recipe
    from spp.stages import step_stage

    monkeypatch.chdir(REPO)
    recipe = yaml.safe_load((REPO / "recipes" / "bind" / "demo.yaml").read_text())
    recipe.update(output_dir=str(tmp_path / "bind"), progress=False)
    stage = step_stage("bind")
    result = stage.run(configs_from_recipe(stage.types(), recipe))
    assert (tmp_path / "bind" / "spp.json").is_file() and result.merged["rows"] == 32 + 6
    assert "by status" in stage.summary(result)
