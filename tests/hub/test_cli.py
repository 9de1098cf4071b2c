"""The publish CLI: usage errors, offline mode, and a publish to a local export."""

from __future__ import annotations

import json

from spp.cli import main as spp_main


def test_publish_needs_a_kind(capsys):
    assert spp_main(["publish", "out/model"]) == 2
    assert "'model' or 'dataset'" in capsys.readouterr().err


def test_publish_offline_exits_2_and_says_why(tiny_model_dir, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert spp_main(["publish", "model", str(tiny_model_dir), "--repo_id", "org/spp-t0"]) == 2
    assert "HF_HUB_OFFLINE=1 is set" in capsys.readouterr().err


def test_publish_model_to_dir_with_eval_results_then_unchanged(tiny_model_dir, tmp_path, capsys):
    evals = tmp_path / "evals.json"
    evals.write_text(json.dumps([{"benchmark": "dan", "metric": "asr", "value": 0.1, "dataset_id": "dan"}]))
    argv = ["publish", "model", str(tiny_model_dir), "--repo_id", "org/spp-t0", "--to_dir", str(tmp_path / "x")]
    assert spp_main([*argv, "--eval_results", str(evals), "--tag", "v1.0"]) == 0
    assert capsys.readouterr().out.startswith("published: ")
    assert spp_main([*argv, "--eval_results", str(evals), "--tag", "v1.0"]) == 0
    assert capsys.readouterr().out.startswith("unchanged: ")
    assert "| dan | asr | 0.1 | dan |" in (tmp_path / "x" / "main" / "README.md").read_text()


def test_publish_dataset_cli(tiny_dataset_dir, tmp_path):
    assert spp_main(["publish", "dataset", str(tiny_dataset_dir), "--to_dir", str(tmp_path / "x")]) == 0
    assert (tmp_path / "x" / "main" / "data" / "train-00000-of-00001.parquet").is_file()


def test_bad_eval_results_file_is_a_config_error(tiny_model_dir, tmp_path, capsys):
    bad = tmp_path / "evals.json"
    bad.write_text(json.dumps([{"benchmark": "dan"}]))
    argv = ["publish", "model", str(tiny_model_dir), "--to_dir", str(tmp_path / "x"), "--eval_results", str(bad)]
    assert spp_main(argv) == 2
    assert "benchmark, metric, value" in capsys.readouterr().err


def test_the_hub_stages_run_from_their_argument_objects(tiny_model_dir, tiny_dataset_dir, tmp_path):
    """What `spp publish dataset`, `spp checkpoints` and `spp download` do, called with their parsed arguments
    (as `spp experiment` calls the publish step): the same export, then a no-op, then the files back."""
    import pytest

    from spp.errors import SppConfigError
    from spp.hub.run import (
        CheckpointsArguments,
        DownloadArguments,
        PublishArguments,
        run_checkpoints,
        run_download,
        run_publish,
    )

    export = tmp_path / "x"
    args = PublishArguments(kind="dataset", path=str(tiny_dataset_dir), to_dir=str(export))
    first, second = run_publish(args), run_publish(args)
    assert first.changed and not second.changed and first.files == second.files
    assert (export / "main" / "data" / "train-00000-of-00001.parquet").is_file()
    assert run_checkpoints(CheckpointsArguments(repo_id=str(export), repo_type="dataset")) == []
    files = run_download(DownloadArguments(repo_id=str(export), to=str(tmp_path / "back"), repo_type="dataset")).files
    assert "spp.json" in files and (tmp_path / "back" / "data" / "train-00000-of-00001.parquet").is_file()
    with pytest.raises(SppConfigError, match="kind"):
        PublishArguments(kind="checkpoint", path=str(tiny_model_dir))
    with pytest.raises(SppConfigError, match="missing path"):
        run_publish(PublishArguments(kind="model", to_dir=str(export)))
