"""Harm scorers: the offline keyword scorer, a tiny transformers classifier, chunk aggregation, spp score-harm."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset, load_from_disk

from spp.data.score_cli import main
from spp.data.scoring import HarmScoreConfig, HarmScoreMap, build_scorer, label_scores
from spp.errors import SppConfigError
from spp.testing.tiny_classifier import build_tiny_classifier

BENIGN = "The garden was full of roses and the children played by the river all afternoon long."
HARMFUL = "He planned to kill them with a weapon and a bomb; the attack and the violence were brutal."


def test_offline_scorer_scores_harm_words_and_leaves_blank_text_unscored():
    scorer = build_scorer(HarmScoreConfig())
    assert scorer.score([BENIGN, HARMFUL, "", "  ", None]) == [0.0, 5.0, None, None, None]


def test_offline_long_document_takes_the_max_over_windows_by_default():
    text = " ".join([BENIGN] * 40 + [HARMFUL])
    scores = {
        agg: build_scorer(HarmScoreConfig(harm_aggregation=agg, harm_max_length=50)).score([text])[0]
        for agg in ("max", "first", "mean")
    }
    assert scores["max"] == 5.0 and scores["first"] == 0.0 and 0.0 < scores["mean"] < 5.0


def test_label_scores_auto_and_explicit_mapping():
    assert label_scores({0: "LABEL_0", 1: "LABEL_1", 2: "5"}, "auto") == [0.0, 1.0, 5.0]
    assert label_scores({0: "safe", 1: "unsafe"}, '{"safe": 0, "unsafe": 4}') == [0.0, 4.0]
    with pytest.raises(SppConfigError, match="no number"):
        label_scores({0: "safe"}, "auto")
    with pytest.raises(SppConfigError, match="no score for labels"):
        label_scores({0: "safe", 1: "unsafe"}, '{"safe": 0}')


def test_unknown_scorer_is_a_config_error():
    with pytest.raises(SppConfigError, match="unknown harm scorer"):
        build_scorer(HarmScoreConfig(harm_scorer="magic"))
    assert build_scorer(HarmScoreConfig(harm_scorer="none")) is None


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    words = " ".join([BENIGN, HARMFUL]).replace(";", " ").replace(".", " ").split()
    return build_tiny_classifier(tmp_path_factory.mktemp("cls"), words)


def test_transformers_scorer_aggregates_windows_and_matches_scoring_each_window(tiny_classifier):
    config = HarmScoreConfig(harm_scorer="transformers", harm_model=str(tiny_classifier), harm_max_length=8)
    scorer = build_scorer(config)
    words = (BENIGN + " " + HARMFUL).split()
    windows = [" ".join(words[i : i + 8]) for i in range(0, len(words), 8)]
    per_window = scorer.score(windows)
    assert all(s in {0.0, 1.0, 2.0, 3.0, 4.0, 5.0} for s in per_window)
    assert scorer.score([" ".join(words)]) == [max(per_window)]
    first = build_scorer(HarmScoreConfig(**{**vars(config), "harm_aggregation": "first"}))
    assert first.score([" ".join(words)]) == [per_window[0]]
    expected = build_scorer(HarmScoreConfig(**{**vars(config), "harm_reduction": "expected"}))
    assert all(0.0 <= s <= 5.0 for s in expected.score(windows))
    batched = build_scorer(HarmScoreConfig(**{**vars(config), "harm_batch_size": 1}))
    assert batched.score(windows) == per_window


def test_score_harm_cli_writes_scores_histogram_and_threshold_count(tmp_path, tiny_classifier):
    rows = [{"text": t} for t in [BENIGN, HARMFUL, "", BENIGN + " " + HARMFUL] * 5]
    Dataset.from_list(rows).to_json(str(tmp_path / "c.jsonl"))
    for streaming in ("false", "true"):
        out = tmp_path / f"scored-{streaming}"
        args = ["--dataset", str(tmp_path / "c.jsonl"), "--output_dir", str(out), "--streaming", streaming]
        assert main(args) == 0
        data = load_from_disk(str(out))
        assert data["text"] == [r["text"] for r in rows]
        assert data["harm_score"] == [0.0, 5.0, None, 5.0] * 5
        details = json.loads((out / "spp.json").read_text())["details"]
        assert details["rows_at_or_above_threshold"] == 10
        assert details["harm_histogram"] == {"0.0": 5, "5.0": 10, "missing": 5}
    out = tmp_path / "scored-model"
    args = ["--dataset", str(tmp_path / "c.jsonl"), "--output_dir", str(out), "--harm_scorer", "transformers"]
    assert main([*args, "--harm_model", str(tiny_classifier), "--harm_max_length", "16"]) == 0
    assert len(load_from_disk(str(out))) == 20


def test_harm_score_map_is_a_batched_dataset_map_function():
    data = Dataset.from_dict({"body": [BENIGN, HARMFUL]})
    scored = data.map(HarmScoreMap(build_scorer(HarmScoreConfig()), text_column="body"), batched=True)
    assert scored["harm_score"] == [0.0, 5.0]


def test_sharded_score_harm_merges_to_the_unsharded_result_and_names_a_missing_shard(tmp_path):
    from datasets import load_from_disk

    from spp.errors import SppConfigError

    whole, sharded = tmp_path / "whole", tmp_path / "sharded"
    base = ["--dataset", "builtin:stdlib-docs", "--max_documents", "250"]
    assert main([*base, "--output_dir", str(whole)]) == 0
    args = [*base, "--output_dir", str(sharded), "--num_shards", "3"]
    for k in (0, 2):
        assert main([*args, "--shard_index", str(k)]) == 0
    with pytest.raises(SppConfigError, match=r"1 of 3 shards are not finished \(first: shard 1\)"):
        main([*args, "--merge", "true"])
    assert main([*args, "--shard_index", "1"]) == 0
    assert main([*args, "--merge", "true"]) == 0
    assert load_from_disk(str(sharded)).to_list() == load_from_disk(str(whole)).to_list()
    assert (
        json.loads((sharded / "spp.json").read_text())["details"]
        == json.loads((whole / "spp.json").read_text())["details"]
    )
