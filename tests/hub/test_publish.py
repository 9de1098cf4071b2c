"""publish_model / publish_dataset to a local export and, through a stubbed HfApi, to the Hub."""

from __future__ import annotations

import json

import pytest
from datasets import load_dataset

from spp.errors import SppConfigError
from spp.hub.export import LocalExport
from spp.hub.publish import publish_dataset, publish_model

EVALS = [{"benchmark": "advbench", "metric": "asr", "value": 0.02, "dataset_id": "walledai/AdvBench"}]


def test_model_export_holds_weights_card_and_metadata_but_no_training_state(tiny_model_dir, tmp_path):
    result = publish_model(tiny_model_dir, to_dir=tmp_path / "export", tag="v1.0", eval_results=EVALS)
    export = LocalExport(tmp_path / "export")
    files = set(export.files("main"))
    assert {"config.json", "generation_config.json", "model.safetensors", "README.md", "spp.json"} == files
    assert sorted(files) == result.files
    assert export.refs("tag") == ["v1.0"]
    meta = json.loads((tmp_path / "export" / "main" / "spp.json").read_text())
    assert (meta["arm"], meta["block_format"]["marker"], meta["constitution"]["hash"]) == (
        "spp_t0",
        "<assistant>",
        "c0ffee",
    )
    assert "model-index" in (tmp_path / "export" / "main" / "README.md").read_text()


def test_republishing_an_unchanged_model_is_a_no_op(tiny_model_dir, tmp_path):
    first = publish_model(tiny_model_dir, to_dir=tmp_path / "export", tag="v1.0")
    index = (tmp_path / "export" / "spp_export.json").read_bytes()
    again = publish_model(tiny_model_dir, to_dir=tmp_path / "export", tag="v1.0")
    assert (first.changed, again.changed) == (True, False)
    assert (tmp_path / "export" / "spp_export.json").read_bytes() == index


def test_hub_publish_makes_one_upload_of_the_same_tree(tiny_model_dir, tmp_path, stub):
    api = stub.RecordingApi()
    publish_model(tiny_model_dir, repo_id="org/spp-t0", revision="sft", tag="v1.0", private=True, api=api)
    publish_model(tiny_model_dir, repo_id="org/spp-t0", revision="sft", tag="v1.0", private=True, api=api)
    assert api.names() == ["create_repo", "create_branch", "upload_folder", "create_tag"] * 2
    create_repo, create_branch, upload, tag = (kw for _, kw in api.calls[:4])
    assert create_repo == {"repo_id": "org/spp-t0", "repo_type": "model", "private": True, "exist_ok": True}
    assert create_branch["branch"] == "sft"
    assert (upload["repo_type"], upload["revision"], upload["delete_patterns"]) == ("model", "sft", None)
    assert (tag["tag"], tag["revision"]) == ("v1.0", "sft")
    # byte-identical trees: huggingface_hub drops unchanged files and empty commits, so nothing new is committed
    assert api.uploads[0]["files"] == api.uploads[1]["files"]
    publish_model(tiny_model_dir, repo_id="org/spp-t0", to_dir=tmp_path / "export", revision="sft")
    assert LocalExport(tmp_path / "export").files("sft") == api.uploads[0]["files"]


def test_publishing_while_offline_fails_at_once(tiny_model_dir, tiny_dataset_dir, monkeypatch, stub):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    api = stub.RecordingApi()
    with pytest.raises(SppConfigError, match="HF_HUB_OFFLINE=1 is set.*--to_dir"):
        publish_model(tiny_model_dir, repo_id="org/spp-t0", api=api)
    with pytest.raises(SppConfigError, match="HF_HUB_OFFLINE=1"):
        publish_dataset(tiny_dataset_dir, repo_id="org/spp-corpus", api=api)
    assert api.calls == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({}, "no destination"), ({"repo_id": "noslash"}, "ORG/NAME"), ({"to_dir": "x", "tag": "a b"}, "tag")],
)
def test_bad_targets_are_config_errors(tiny_model_dir, kwargs, message):
    with pytest.raises(SppConfigError, match=message):
        publish_model(tiny_model_dir, **kwargs)


def test_dataset_export_loads_back_with_datasets(tiny_dataset_dir, tmp_path):
    publish_dataset(tiny_dataset_dir, to_dir=tmp_path / "export")
    root = tmp_path / "export" / "main"
    assert sorted(LocalExport(tmp_path / "export", repo_type="dataset").files("main")) == [
        "README.md",
        "data/train-00000-of-00001.parquet",
        "spp.json",
    ]
    reloaded = load_dataset(str(root), split="train")
    assert reloaded["reflection_status"] == ["none", "ok", "none", "ok", "rejected", "none"]
    meta = json.loads((root / "spp.json").read_text())
    assert meta["details"]["counts"] == {"none": 3, "ok": 2, "rejected": 1}
    assert meta["details"]["harm_histogram"] == {"0.0": 3, "1.0": 1, "3.0": 1, "4.0": 1}
    assert publish_dataset(tiny_dataset_dir, to_dir=tmp_path / "export").changed is False


def test_dataset_hub_publish_pushes_data_then_a_card_that_keeps_the_datasets_yaml(tiny_dataset_dir, monkeypatch, stub):
    import datasets

    pushed = []
    monkeypatch.setattr(
        datasets.Dataset, "push_to_hub", lambda self, repo_id, **kw: pushed.append((repo_id, len(self), kw))
    )
    api = stub.RecordingApi()
    publish_dataset(tiny_dataset_dir, repo_id="org/spp-corpus", private=True, api=api)

    assert [(repo, rows, kw["split"], kw["private"]) for repo, rows, kw in pushed] == [
        ("org/spp-corpus", 6, "train", True)
    ]
    assert api.names() == ["create_repo", "hf_hub_download", "upload_folder"]
    upload = api.uploads[0]
    assert (upload["repo_type"], upload["revision"]) == ("dataset", "main")
    assert sorted(upload["files"]) == ["README.md", "spp.json"]


def test_a_dataset_card_is_picked_by_the_kind_its_spp_json_records(tiny_dataset_dir, tmp_path):
    """``spp.hub.cards.DATASET_CARDS`` by ``details.schema``: a persona-binding set gets the bind-data card, an
    augmented corpus the corpus card; every registered kind names a renderer that exists."""
    from spp.bind.provenance import SCHEMA_NAME
    from spp.hub.cards import DATASET_CARDS
    from spp.metadata import read_metadata
    from spp.stages import load_target

    assert SCHEMA_NAME in DATASET_CARDS and all(callable(load_target(r)) for r in DATASET_CARDS.values())
    publish_dataset(tiny_dataset_dir, to_dir=tmp_path / "corpus")
    corpus_card = (tmp_path / "corpus" / "main" / "README.md").read_text()
    meta = read_metadata(tiny_dataset_dir)
    meta.details["schema"] = SCHEMA_NAME
    meta.save(tiny_dataset_dir)
    publish_dataset(tiny_dataset_dir, to_dir=tmp_path / "bind")
    bind_card = (tmp_path / "bind" / "main" / "README.md").read_text()
    assert "persona-binding" in bind_card and "persona-binding" not in corpus_card
    assert "SPP augmented corpus" in corpus_card and "SPP augmented corpus" not in bind_card
