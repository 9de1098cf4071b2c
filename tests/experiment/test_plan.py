"""The plan: hashes chain downstream, the dry run prints recorded throughput figures, state decides what is skipped."""

from __future__ import annotations

import json
from pathlib import Path

from spp.experiment import build_plan, load_experiment, run_experiment
from spp.experiment.cli import experiment_main
from spp.experiment.runner import ExperimentState
from spp.testing.plan_table import table_rows

REPO = Path(__file__).parents[2]
PAPER = REPO / "recipes" / "experiments" / "paper_1.7b.yaml"


def test_demo_plan_order_and_hash_chain(tmp_path):
    config = load_experiment("demo", output_dir=str(tmp_path))
    names = [s.name for s in build_plan(config)]
    assert names == [
        "tokenizer", "augment", "publish-dataset", "toy_data",
        "pretrain-baseline", "sft-baseline", "attack-baseline", "eval-baseline",
        "pretrain-spp_t0", "sft-spp_t0", "attack-spp_t0", "eval-spp_t0", "compare",
    ]  # fmt: skip
    before = {s.name: s.hash for s in build_plan(config)}
    config.pretrain["overrides"]["max_steps"] = 41
    after = {s.name: s.hash for s in build_plan(config)}
    changed = {name for name in before if before[name] != after[name]}
    stages = ("pretrain", "sft", "attack", "eval")
    assert changed == {f"{stage}-{arm}" for stage in stages for arm in ("baseline", "spp_t0")} | {"compare"}


def test_identical_sft_recipe_across_arms(tmp_path):
    plan = build_plan(load_experiment("demo", output_dir=str(tmp_path)))
    sft = [{k: v for k, v in s.recipe.items() if k not in ("model_name_or_path", "output_dir", "export_dir")}
           for s in plan if s.stage == "sft"]  # fmt: skip
    assert len(sft) == 2 and sft[0] == sft[1]


def test_paper_dry_run_prints_plan_and_recorded_throughput(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # recipe paths resolve against the repository the recipe lies in
    assert experiment_main(["--config", str(PAPER), "--dry_run", "true"]) == 0
    out = capsys.readouterr().out
    name = "h100-spp-trainer-mb8"  # the paper recipe's throughput_figure: SPPTrainer measured on one H100
    rate = json.loads((REPO / "benchmarks" / "throughput.json").read_text())["pretrain"][name]["tokens_per_s_per_gpu"]
    assert f"figure '{name}'" in out and f"{rate:,.0f} tokens/s per GPU" in out
    assert "benchmarks/measured/2026-11-27-h100/pretrain_throughput.json" in out  # where the figure came from
    tokens = 100_000_595_968
    rows = table_rows(out)
    pretrain = [r for r in rows if r["stage"] == "pretrain"]
    assert len(pretrain) == 5 and all(r["tokens / generations"] == "100.0B tokens" for r in pretrain)
    assert all(r["GPU-hours"] == f"{tokens / rate / 3600:,.0f}" for r in pretrain)
    assert rows[-1]["step"] == "total" and rows[-1]["GPU-hours"] == f">= {5 * tokens / rate / 3600:,.0f}"
    assert rows[-1]["tokens / generations"] == "500.0B tokens; 25,170 generations"  # every pretraining and eval step
    assert f"pretraining, all arms: {5 * tokens:,} tokens" in out
    # every stage is in the total: the steps without a figure are named, by stage
    assert "not measured: score x1, augment x2, bind x1, sft x5, attack x5, eval x5" in out
    assert "accelerate launch --config_file recipes/accelerate/ddp.yaml --num_machines 4 --num_processes 32" in out
    assert "-m spp pretrain --config runs/spp-1.7b/recipes/pretrain-spp_t0.yaml" in out
    assert not (tmp_path / "runs").exists()  # a dry run writes nothing


def test_print_launch_records_launched_and_waits(tmp_path, capsys):
    config = load_experiment("demo", output_dir=str(tmp_path), launch="print", until="pretrain")
    plan = build_plan(config)
    # pretend the data steps finished: only the training steps are left, and they are printed, not run
    state = ExperimentState(config.root)
    for step in plan[:4]:
        for file in step.done_files:
            Path(file).parent.mkdir(parents=True, exist_ok=True)
            Path(file).write_text('{"kind": "dataset"}')
        state.record(step, "done")
    statuses = run_experiment(config)
    out = capsys.readouterr().out
    assert statuses["pretrain-baseline"] == "launched" and statuses["sft-baseline"] == "not run"  # --until
    assert "-m spp pretrain --config" in out and (tmp_path / "recipes" / "pretrain-spp_t0.yaml").is_file()
    assert ExperimentState(config.root).steps["pretrain-spp_t0"]["status"] == "launched"


def test_a_sharded_augment_step_prints_runnable_shard_and_merge_lines(tmp_path, capsys):
    import shlex

    from spp.cli import main as spp_main

    config = load_experiment("demo", output_dir=str(tmp_path), augment_shards=3, until="augment")
    assert run_experiment(config)["augment"] == "launched"
    out = capsys.readouterr().out
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith("spp augment --config")]
    assert len(lines) == 2 and "--shard_index $SHARD_INDEX" in lines[0] and "--merge true" in lines[1]
    assert "for SHARD_INDEX in 0..2" in lines[0]

    # run the printed lines as a user would (the shards, then the merge); the rerun then finds the step done
    shard_line, merge_line = (shlex.split(line.split("#")[0]) for line in lines)
    for index in range(3):
        assert spp_main([a.replace("$SHARD_INDEX", str(index)) for a in shard_line[1:]]) == 0
    assert spp_main(merge_line[1:]) == 0
    assert run_experiment(config)["augment"] == "done"
    assert "augment: up to date" in capsys.readouterr().out


def test_dry_run_lists_the_shard_lines_and_a_bad_shard_count_is_refused(tmp_path, capsys):
    import pytest

    from spp.errors import SppConfigError

    config = load_experiment("demo", output_dir=str(tmp_path), augment_shards=4, dry_run=True)
    run_experiment(config)
    out = capsys.readouterr().out
    assert "augment: spp augment --config" in out and "for SHARD_INDEX in 0..3" in out and "--merge true" in out
    with pytest.raises(SppConfigError, match="augment_shards"):
        load_experiment("demo", augment_shards=0)
