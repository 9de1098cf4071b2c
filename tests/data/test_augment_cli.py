"""``spp augment`` end to end on the built-in corpus: the embedded default, the columns, and the counts in spp.json."""

from __future__ import annotations

import json
from collections import Counter

from datasets import load_from_disk

from spp.cli import main as spp_main
from spp.data.augment_cli import main


def test_embedded_default_runs_with_no_arguments(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "outputs/augment-demo" in out
    data = load_from_disk(str(tmp_path / "outputs/augment-demo"))
    assert len(data) > 500
    assert {"id", "text", "harm_score", "reflection_1p", "reflection_3p", "citations", "reflection_position"} <= set(
        data.column_names
    )
    assert {"reflection_status", "canary"} <= set(data.column_names)
    meta = json.loads((tmp_path / "outputs/augment-demo/spp.json").read_text())
    assert meta["kind"] == "dataset"
    assert meta["details"]["counts"] == dict(Counter(data["reflection_status"]))
    assert meta["details"]["source"]["id"] == "builtin:stdlib-docs"
    ok = data.filter(lambda r: r["reflection_status"] == "ok")
    assert 0.07 < len(ok) / len(data) < 0.13
    assert all(r["reflection_1p"] and r["citations"] and 0 < r["reflection_position"] <= len(r["text"]) for r in ok)
    assert all(r["reflection_1p"] is None for r in data if r["reflection_status"] == "none")


def test_stage_registry_runs_augment_and_reports_bad_config(tmp_path, capsys):
    args = ["augment", "--output_dir", str(tmp_path / "out"), "--max_documents", "30", "--progress", "false"]
    assert spp_main(args) == 0
    assert len(load_from_disk(str(tmp_path / "out"))) == 30
    assert spp_main([*args, "--text_column", "body", "--output_dir", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err
    assert "no column 'body'" in err and "'id'" in err and "'text'" in err


def test_changed_recipe_in_same_output_dir_is_refused(tmp_path, capsys):
    args = ["--output_dir", str(tmp_path / "out"), "--max_documents", "20", "--progress", "false"]
    assert main(args) == 0
    assert spp_main(["augment", *args, "--selection_seed", "7"]) == 2
    assert "spp augment output of another run" in capsys.readouterr().err
    assert main([*args, "--selection_seed", "7", "--overwrite", "true"]) == 0
