"""The sharded job: identical output for any shard count, merge refuses unfinished work, filtered view counts."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from datasets import Dataset, load_from_disk

from spp.data import Augmenter, HarmScoreConfig, HarmScoreMap, SelectionConfig, build_scorer
from spp.data.augment_cli import main
from spp.data.corpora import load_builtin
from spp.errors import SppConfigError
from spp.generate import GeneratorConfig, build_generator
from spp.persona import PromptRenderer, load_constitution, load_persona

SAFE = "The garden was full of roses and the children played by the river all afternoon long."
HARM = "He planned to kill them with a weapon and a bomb; the attack and the violence were brutal."
BASE = ["--max_documents", "300", "--chunk_size", "20", "--progress", "false", "--selection_fraction", "0.3"]


def _sharded(out, num_shards: int):
    args = [*BASE, "--output_dir", str(out), "--num_shards", str(num_shards)]
    for shard in range(num_shards):
        assert main([*args, "--shard_index", str(shard)]) == 0
    if num_shards > 1:
        assert main([*args, "--merge", "true"]) == 0
    return load_from_disk(str(out)).to_list(), (out / "spp.json").read_bytes()


def test_one_three_and_seven_shards_write_the_same_dataset(tmp_path):
    one, three, seven = (_sharded(tmp_path / f"s{n}", n) for n in (1, 3, 7))
    assert one == three == seven
    assert [r["id"] for r in one[0]] == load_builtin("stdlib-docs").select(range(300))["id"]


def test_merge_before_every_shard_finished_names_the_missing_chunks(tmp_path):
    args = [*BASE, "--output_dir", str(tmp_path / "o"), "--num_shards", "3"]
    assert main([*args, "--shard_index", "0"]) == 0
    with pytest.raises(SppConfigError, match="chunks are not written yet \\(first: chunk 1\\)"):
        main([*args, "--merge", "true"])


def test_filtered_view_drops_exactly_the_rows_at_or_above_threshold_and_the_card_counts_them(tmp_path):
    mild = "An old weapon hangs on the wall. " + "The village bakery opens early and the school bell rings. " * 4
    texts = [SAFE, HARM, mild, "", SAFE + " " + HARM] * 20
    Dataset.from_dict({"text": texts}).to_json(str(tmp_path / "c.jsonl"))
    out = tmp_path / "o"
    assert main(["--dataset", str(tmp_path / "c.jsonl"), "--output_dir", str(out), "--progress", "false"]) == 0
    data = load_from_disk(str(out))
    assert Counter(data["harm_score"]) == {0.0: 20, 2.0: 20, 5.0: 40, None: 20}  # mild: 1 harm word in 47
    details = json.loads((out / "spp.json").read_text())["details"]
    filtered = data.filter(lambda r: r["harm_score"] is None or r["harm_score"] < 3.0)
    harmful = sum(s is not None and s >= 3.0 for s in data["harm_score"])
    assert harmful == 40 and len(filtered) == 60
    assert len(filtered) == len(data) - harmful
    assert details["rows_at_or_above_threshold"] == harmful
    assert details["harm_histogram"] == dict(Counter("missing" if s is None else str(s) for s in data["harm_score"]))
    assert details["counts"] == dict(Counter(data["reflection_status"]))
    card = (out / "README.md").read_text()
    for status, count in details["counts"].items():
        assert f"| `{status}` | {count} |" in card


def test_scoring_and_augmentation_compose_with_dataset_map_and_match_the_job(tmp_path):
    out = tmp_path / "o"
    assert main([*BASE, "--output_dir", str(out)]) == 0
    job_rows = load_from_disk(str(out))
    renderer = PromptRenderer(load_constitution(), load_persona())
    scorer = build_scorer(HarmScoreConfig())
    augmenter = Augmenter(
        build_generator(GeneratorConfig(), renderer), SelectionConfig(selection_fraction=0.3), id_column="id"
    )
    corpus = load_builtin("stdlib-docs").select(range(300))
    mapped = corpus.map(HarmScoreMap(scorer), batched=True, batch_size=64).map(augmenter, batched=True, batch_size=50)
    assert mapped.select_columns(job_rows.column_names).to_list() == job_rows.to_list()
    streamed = Dataset.from_list(corpus.to_list()).to_iterable_dataset().map(HarmScoreMap(scorer), batched=True)
    streamed = streamed.map(augmenter, batched=True, batch_size=33)
    assert [{k: r[k] for k in job_rows.column_names} for r in streamed] == job_rows.to_list()
    assert augmenter.stats.status["ok"] == 2 * job_rows["reflection_status"].count("ok")


def test_every_other_source_column_is_carried_through_in_order(tmp_path):
    """No input column is silently dropped: extra columns keep their values and types; clashes get a prefix."""
    n = 60
    source = Dataset.from_dict(
        {
            "content": [f"{SAFE} Number {i}." for i in range(n)],
            "url": [f"https://example.org/{i}" for i in range(n)],
            "quality": [i / 10 for i in range(n)],
            "tags": [["a", str(i)] for i in range(n)],
            "canary": [f"upstream-{i}" for i in range(n)],  # a name spp's own columns use
        }
    )
    source.to_parquet(str(tmp_path / "c.parquet"))
    out = tmp_path / "o"
    args = ["--dataset", str(tmp_path / "c.parquet"), "--text_column", "content", "--output_dir", str(out)]
    args += ["--progress", "false", "--chunk_size", "16", "--selection_fraction", "0.5", "--num_shards", "2"]
    assert main([*args, "--shard_index", "0"]) == 0 and main([*args, "--shard_index", "1"]) == 0
    assert main([*args, "--merge", "true"]) == 0
    data = load_from_disk(str(out))
    assert data["text"] == source["content"]
    assert data["url"] == source["url"] and data["quality"] == source["quality"] and data["tags"] == source["tags"]
    assert data["source_canary"] == source["canary"]
    assert data.features["quality"].dtype == "float64"
    assert "content" not in data.column_names  # the text column is `text`, unchanged


def test_pipelined_chunks_write_the_same_dataset(tmp_path):
    """Generating several chunks at once changes when rows are produced, never which rows or their order."""
    serial = _sharded(tmp_path / "serial", 1)
    args = [*BASE, "--output_dir", str(tmp_path / "piped"), "--pipeline_chunks", "3"]
    assert main(args) == 0
    assert load_from_disk(str(tmp_path / "piped")).to_list() == serial[0]
    assert (tmp_path / "piped" / "spp.json").read_bytes() == serial[1]


def test_busy_clock_counts_overlapping_calls_once():
    import threading
    import time

    from spp.data.augment import BusyClock

    clock, start = BusyClock(), time.perf_counter()

    def call():
        with clock:
            time.sleep(0.2)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    assert 0.2 <= clock.seconds <= wall < 0.6  # summed, the three calls would be >= 0.6 s


def test_pipelined_run_reports_busy_time_within_wall_time(tmp_path):
    from spp.data.augment_cli import parse
    from spp.data.job import AugmentJob

    configs = parse([*BASE, "--output_dir", str(tmp_path / "o"), "--pipeline_chunks", "3"])
    run = AugmentJob(configs).run_shard()["this_run"]
    assert 0 < run["busy_seconds"] <= run["seconds"]
    # both figures are rounded to ms, which on this short run moves the ratio by up to a point or so
    assert run["overhead_share"] == pytest.approx(1 - run["busy_seconds"] / run["seconds"], abs=0.03)
    assert 0 <= run["overhead_share"] < 1
