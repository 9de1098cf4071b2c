"""Matched arms are checked, not assumed: a checkpoint of another arm is never resumed, and results of arms
pretrained on different data views are not compared without saying so."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from spp.cli import main as spp_main


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _pretrain(corpus_dir, out, arm, *extra):
    argv = [
        "pretrain", "--dataset_path", str(corpus_dir), "--tokenizer_name_or_path", str(corpus_dir / "tokenizer"),
        "--model_spec", "tiny", "--arm", arm, "--seq_len", "64", "--reflection_budget", "24", "--max_steps", "2",
        "--per_device_train_batch_size", "2", "--save_steps", "2", "--use_cpu", "true", "--report_to", "none",
        "--output_dir", str(out), "--shuffle_documents", "false", *extra,
    ]  # fmt: skip
    return spp_main(argv)


def test_resuming_another_arms_checkpoint_exits_2_and_changes_no_file(corpus_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert _pretrain(corpus_dir, out, "spp_t0") == 0
    printed = capsys.readouterr().out  # the run ends saying where the model went, and Trainer.save_metrics wrote
    metrics = json.loads((out / "train_results.json").read_text())
    assert f"base model saved to {out} (arm spp_t0, data view " in printed and metrics["train_loss"] > 0
    assert f"metrics: train_loss {metrics['train_loss']:.4g}" in printed
    assert json.loads((out / "checkpoint-2" / "spp.json").read_text())["arm"] == "spp_t0"  # the checkpoint says who
    before = _tree(out)
    capsys.readouterr()
    code = _pretrain(corpus_dir, out, "baseline", "--resume_from_checkpoint", "true")
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err  # its folder holds another recipe's run (spp.ownership)
    assert "spp pretrain output of another run" in err and _tree(out) == before
    # resumed from that checkpoint into a folder of its own, another arm is refused by the checkpoint's identity
    checkpoint = str(out / "checkpoint-2")
    code = _pretrain(corpus_dir, tmp_path / "other", "baseline", "--resume_from_checkpoint", checkpoint)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "refusing to resume" in err and "arm: checkpoint 'spp_t0', this run 'baseline'" in err
    assert _tree(out) == before
    # another data view (held-out documents) of the same arm is refused too
    code = _pretrain(corpus_dir, tmp_path / "other", "spp_t0", "--resume_from_checkpoint", checkpoint,
                     "--heldout_documents", "3")  # fmt: skip
    assert code == 2 and "data_view_hash" in capsys.readouterr().err
    assert _tree(out) == before


def _result(tmp_path, name, view):
    result = {
        "model": name,
        "judge": "keyword",
        "sft_hash": "1" * 64,
        "data_view_hash": view,
        "benchmarks": {},
        "headline": {"benchmarks": [], "mean": 0.1, "mean_ci": [0, 0.2], "max": 0.1, "max_benchmark": "advbench",
                     "max_ci": [0, 0.2]},
    }  # fmt: skip
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(result))
    return str(path)


def test_compare_refuses_arms_of_different_data_views_and_force_marks_them(tmp_path, capsys):
    paths = [_result(tmp_path, "baseline", "aaaa"), _result(tmp_path, "spp_t0", "bbbb")]
    assert spp_main(["compare", *paths, "--output_dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "different data views" in err and "baseline: aaaa" in err and "spp_t0: bbbb" in err
    assert not (tmp_path / "out").exists() or not (tmp_path / "out" / "comparison.md").exists()
    assert spp_main(["compare", *paths, "--output_dir", str(tmp_path / "out"), "--force", "true"]) == 0
    table = (tmp_path / "out" / "comparison.md").read_text()
    assert "spp_t0 (other data view)" in table and "Not data-matched (forced)" in table
    assert "baseline (other data view)" not in table
    same = [_result(tmp_path, "baseline", "aaaa"), _result(tmp_path, "spp_t0", "aaaa")]
    assert spp_main(["compare", *same, "--output_dir", str(tmp_path / "ok")]) == 0
    assert "data view" not in (tmp_path / "ok" / "comparison.md").read_text()
