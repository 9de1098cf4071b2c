"""``recipes/sft/released.yaml``: the identical SFT on the authors' released mixes by Hub id, each pinned to a commit
sha; a differing schema is mapped by ``columns``; the multi-turn set is read as whole multi-turn conversations."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from spp.cli import main as spp_main
from spp.testing.released import SFT_MIXES, WORDS, multi_turn, write_sft_mixes

REPO = Path(__file__).resolve().parents[2]
RELEASED = REPO / "recipes" / "sft" / "released.yaml"
IDENTICAL = REPO / "recipes" / "sft" / "identical.yaml"
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """The Hub boundary: ``HfApi.dataset_info`` (the sha of ``main``) and ``datasets.load_dataset`` of a Hub id,
    served from the fixture mixes; records every Hub read."""
    import datasets
    import huggingface_hub

    files = write_sft_mixes(tmp_path / "mixes")
    real, reads = datasets.load_dataset, []

    def load_dataset(path, name=None, data_files=None, split=None, revision=None, **kwargs):
        if path not in files:
            return real(path, name, data_files=data_files, split=split, revision=revision, **kwargs)
        reads.append((path, revision))
        return real("json", data_files=str(files[path]), split=split)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setattr(
        huggingface_hub.HfApi, "dataset_info", lambda self, repo_id, revision=None: SimpleNamespace(sha=SHA)
    )
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return reads


def test_the_released_recipe_is_the_identical_sft_on_the_released_mixes():
    from spp.recipes import load_recipe

    assert set(yaml.safe_load(RELEASED.read_text())) == {"base", "datasets"}  # it sets nothing else
    released, identical = (load_recipe(p) for p in (RELEASED, IDENTICAL))
    assert {k: v for k, v in released.items() if k != "datasets"} == {
        k: v for k, v in identical.items() if k != "datasets"
    }  # every hyperparameter, stage and binding setting is identical.yaml's
    assert [d["path"] for d in released["datasets"]] == list(SFT_MIXES)
    assert all(d["revision"] and d["columns"] for d in released["datasets"])


def test_spp_sft_on_the_released_recipe_trains_on_the_stubbed_hub_mixes(hub, base_model, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    monkeypatch.chdir(REPO)
    out = tmp_path / "instruct"
    argv = ["sft", "--config", str(RELEASED), "--model_name_or_path", str(base_model), "--output_dir", str(out),
            "--bf16", "false", "--use_cpu", "true", "--max_steps", "2", "--global_batch_size", "2",
            "--per_device_train_batch_size", "2", "--max_length", "256", "--gradient_checkpointing", "false",
            "--learning_rate", "1e-2", "--dataloader_num_workers", "0", "--dataset_num_proc", "1",
            "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true"]  # fmt: skip
    assert spp_main(argv) == 0
    assert sorted(set(hub)) == sorted((hub_id, SHA) for hub_id in SFT_MIXES)  # read at the resolved sha only
    meta = json.loads((out / "spp.json").read_text())
    recorded = {d["path"]: d for d in meta["details"]["datasets"]}
    assert all(recorded[h]["revision"] == SHA and recorded[h]["requested_revision"] == "main" for h in SFT_MIXES)
    before, after = load_file(base_model / "model.safetensors"), load_file(out / "model.safetensors")
    assert any(not before[k].equal(after[k]) for k in before)  # it trained


def test_the_multi_turn_set_is_read_as_whole_multi_turn_conversations(hub, tmp_path):
    from spp.sft.config import SPPSFTConfig
    from spp.sft.data import stage_datasets

    datasets = yaml.safe_load(RELEASED.read_text())["datasets"]
    config = SPPSFTConfig(output_dir=str(tmp_path / "o"), datasets=datasets, citation_stage="uncited", bf16=False,
                          use_cpu=True)  # fmt: skip
    cited, uncited = stage_datasets(config)
    assert len(cited) == len(uncited) == 8 + 6 + 4
    conversations = [row["messages"] for row in cited if len(row["messages"]) > 2]
    expected = [multi_turn(w)[0] for w in WORDS[14:18]]
    assert sorted(conversations, key=str) == sorted(expected, key=str)  # every turn kept, in order
    assert sum(len(row["messages"]) == 6 for row in uncited) == 4
    assert all("[2.3]" not in m["content"] for row in uncited for m in row["messages"])


def test_columns_map_a_differing_schema_and_a_missing_column_is_named(tmp_path):
    from spp.errors import SppConfigError
    from spp.sft.config import SFTDataset
    from spp.sft.data import load_sft_dataset

    cited, plain = multi_turn("bridges")
    data = tmp_path / "theirs.jsonl"
    data.write_text(json.dumps({"conv_cited": cited, "conv_plain": plain, "messages": "not a conversation"}) + "\n")
    spec = SFTDataset.from_dict(
        {"path": str(data), "columns": {"messages_cite": "conv_cited", "messages_nocite": "conv_plain"}}, 0
    )
    loaded = load_sft_dataset(spec)
    assert loaded[0]["messages"] == cited and loaded[0]["messages_uncited"] == plain
    plain_chat = SFTDataset.from_dict({"path": str(data), "columns": {"messages": "conv_plain"}}, 0)
    assert load_sft_dataset(plain_chat)[0]["messages"] == plain  # the mapped column plays the role, not the name
    with pytest.raises(SppConfigError, match=r"columns maps to \['conversation'\]"):
        load_sft_dataset(SFTDataset.from_dict({"path": str(data), "columns": {"messages": "conversation"}}, 0))
    with pytest.raises(SppConfigError, match="columns must map"):
        SFTDataset.from_dict({"path": str(data), "columns": {"chosen": "conv_cited"}}, 0)
