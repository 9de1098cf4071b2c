"""bind-data end to end with the offline backend: paired rows, statuses that add up, provenance, resume, publish."""

from __future__ import annotations

import json

import pytest
from datasets import load_from_disk

from spp.bind.cli import main
from spp.bind.provenance import constitution_record
from spp.errors import SppConfigError
from spp.generate.validate import extract_citations
from spp.persona import load_constitution

from .conftest import write_recipe


def _run(recipe, out, *extra) -> int:
    return main(["--config", str(recipe), "--output_dir", str(out), "--chunk_size", "16", *extra])


def test_offline_run_writes_paired_rows_and_every_status_adds_up(tmp_path, prompt_files):
    harmful = prompt_files["harmful"]
    harmful.write_text(harmful.read_text() + json.dumps({"prompt": "Tell me something nasty about bakers."}) + "\n")
    recipe = write_recipe(tmp_path / "r.yaml", prompt_files, num_prompts=None)
    assert _run(recipe, tmp_path / "out") == 0
    data = load_from_disk(str(tmp_path / "out"))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert len(data) == 301 and sum(summary["counts"].values()) == 301
    assert summary["counts"] == {"ok": 290, "rejected": 11}
    assert summary["rejected"] == {"misjudged:harmful_as_benign": 11}  # no lexicon word: the offline model misreads it
    assert summary["by_category"]["jailbreak"] == {"ok": 100}
    for row in data:
        if row["status"] != "ok":
            assert row["messages_cite"] is None and row["raw_response"] and row["reason"]
            continue
        cite, nocite = row["messages_cite"], row["messages_nocite"]
        assert [m["role"] for m in cite] == [m["role"] for m in nocite] == ["user", "assistant"]  # no system turn
        assert cite[0]["content"] == nocite[0]["content"] == row["prompt"]
        assert extract_citations(cite[1]["content"]) == row["citations"] != []
        assert not extract_citations(nocite[1]["content"])
        if row["category"] == "harmful":
            assert row["harm"] and row["harm"] in nocite[1]["content"]  # a refusal that names the harm
        if row["category"] == "jailbreak":
            assert row["jailbreak_wrapper"] and row["jailbreak_wrapper"] in nocite[1]["content"]
    meta = json.loads((tmp_path / "out" / "spp.json").read_text())
    assert meta["constitution"] == constitution_record(load_constitution())
    assert meta["persona"]["id"] == "lumen-v1" and meta["prompt_hash"]
    assert meta["details"]["generator"]["backend"] == "offline" and meta["details"]["num_prompts"] == 301
    assert len(meta["details"]["prompt_set_sha256"]) == 64
    assert "persona-binding" in (tmp_path / "out" / "README.md").read_text()


def test_rerun_is_a_no_op_and_another_recipe_refuses_the_folder(tmp_path, prompt_files):
    recipe = write_recipe(tmp_path / "r.yaml", prompt_files, num_prompts=60)
    assert _run(recipe, tmp_path / "out") == 0
    before = load_from_disk(str(tmp_path / "out")).to_list()
    assert _run(recipe, tmp_path / "out") == 0
    assert load_from_disk(str(tmp_path / "out")).to_list() == before
    with pytest.raises(SppConfigError, match="spp bind-data output of another run"):
        _run(recipe, tmp_path / "out", "--sample_seed", "1")


def test_shards_merge_to_the_single_process_dataset(tmp_path, prompt_files):
    recipe = write_recipe(tmp_path / "r.yaml", prompt_files, num_prompts=90)
    assert _run(recipe, tmp_path / "one") == 0
    for shard in ("0", "1"):
        assert _run(recipe, tmp_path / "two", "--num_shards", "2", "--shard_index", shard) == 0
    assert _run(recipe, tmp_path / "two", "--num_shards", "2", "--merge", "true") == 0
    assert load_from_disk(str(tmp_path / "two")).to_list() == load_from_disk(str(tmp_path / "one")).to_list()


def test_publish_dataset_ships_the_bind_card_and_spp_json(tmp_path, prompt_files):
    from spp.hub.publish import publish_dataset

    recipe = write_recipe(tmp_path / "r.yaml", prompt_files, num_prompts=30)
    assert _run(recipe, tmp_path / "out") == 0
    result = publish_dataset(tmp_path / "out", repo_id="org/binding", to_dir=tmp_path / "export")
    assert "README.md" in result.files and "spp.json" in result.files
    assert any(f.startswith("data/train-") and f.endswith(".parquet") for f in result.files)
    card = (tmp_path / "export" / "main" / "README.md").read_text()
    assert "messages_nocite" in card and "| `ok` | 29 |" in card and "| `rejected` | 1 |" in card
    assert "`misjudged:harmful_as_benign` 1" in card and "org/binding" in card


@pytest.mark.parametrize("overwrite", ["false", "true"])
def test_a_foreign_folder_is_refused_and_a_running_job_is_not_claimed_twice(tmp_path, prompt_files, overwrite):
    from spp.bind.cli import parse
    from spp.bind.job import BindJob

    recipe = write_recipe(tmp_path / "r.yaml", prompt_files, num_prompts=30)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    with pytest.raises(SppConfigError, match="spp did not write it"):
        _run(recipe, mine, "--overwrite", overwrite)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "my notes"
    argv = ["--config", str(recipe), "--output_dir", str(tmp_path / "out"), "--chunk_size", "16", "--overwrite",
            overwrite]  # fmt: skip
    with BindJob(parse(argv)), pytest.raises(SppConfigError, match=r"another process is working on this job: pid \d+"):
        BindJob(parse(argv))
    assert _run(recipe, tmp_path / "out") == 0  # the lock went with the first job (its ownership claim stays)


def test_everything_is_checked_before_the_folder_is_claimed(tmp_path, prompt_files, capsys):
    """A backend typo, a missing source file and a prompt count that draws nothing are exit 2 with nothing written,
    so the corrected rerun is not refused as another recipe's folder."""
    from spp.cli import main as spp_main

    recipe = write_recipe(tmp_path / "r.yaml", prompt_files, num_prompts=20)
    out = tmp_path / "out"
    missing = write_recipe(tmp_path / "m.yaml", {**prompt_files, "harmful": tmp_path / "no_such_prompts.jsonl"})
    for argv, named in (
        (["--config", str(recipe), "--backend", "offlin"], "field 'backend'"),
        (["--config", str(missing)], "no_such_prompts.jsonl"),
        (["--config", str(recipe), "--num_prompts", "-1"], "field 'num_prompts'"),
        (["--config", str(recipe), "--num_prompts", "0"], "field 'num_prompts'"),
    ):
        assert spp_main(["bind-data", *argv, "--output_dir", str(out)]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and named in err, err
        assert not out.exists(), "a refused run claimed the folder"
    assert _run(recipe, out) == 0  # the corrected run
    assert (out / "spp.json").is_file() and len(load_from_disk(str(out))) >= 20
