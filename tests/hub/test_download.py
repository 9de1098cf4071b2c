"""spp download / spp checkpoints give back what was published (local export and Hub)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from spp.cli import main as spp_main
from spp.hub.checkpoints import HubCheckpointCallback
from spp.hub.download import download, list_checkpoints
from spp.hub.export import LocalExport

STEPS = [f"step-{n:07d}" for n in (2, 4, 6, 8, 10)]


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A local export of a tiny real training run: 5 checkpoint branches, main and a tag."""
    import torch
    from datasets import Dataset
    from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments

    root = tmp_path_factory.mktemp("release")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32)  # fmt: skip
    ids = [[(i + j) % 64 for j in range(8)] for i in range(16)]
    callback = HubCheckpointCallback(repo_id="org/spp-tiny", to_dir=str(root / "export"), tag="v0.1")
    args = TrainingArguments(output_dir=str(root / "out"), max_steps=10, save_steps=2, per_device_train_batch_size=2,
                             use_cpu=True, report_to="none", disable_tqdm=True)  # fmt: skip
    data = Dataset.from_dict({"input_ids": ids, "labels": ids})
    Trainer(model=LlamaForCausalLM(config), args=args, train_dataset=data, callbacks=[callback]).train()
    assert callback.uploaded == [*STEPS, "main"]
    return root / "export"


def digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its sha256, spp's ownership marker left out (it records the download)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file() and p.name != ".spp-output.json"}  # fmt: skip


def test_checkpoints_cli_lists_the_published_branches_in_order(released, capsys):
    assert spp_main(["checkpoints", str(released)]) == 0
    assert capsys.readouterr().out.split() == STEPS
    assert list_checkpoints(str(released)) == LocalExport(released).checkpoints() == STEPS


@pytest.mark.parametrize("revision", ["step-0000004", "main", "v0.1"])
def test_download_cli_returns_the_published_files(released, tmp_path, revision):
    assert spp_main(["download", str(released), "--revision", revision, "--to", str(tmp_path / "dl")]) == 0
    assert digest(tmp_path / "dl") == LocalExport(released).files(revision) == digest(released / revision)


def test_download_include_patterns_filter_like_snapshot_download(released, tmp_path):
    files = download(str(released), tmp_path / "dl", revision="step-0000002", include=["*.json"])
    assert files == sorted(f for f in LocalExport(released).files("step-0000002") if f.endswith(".json"))
    assert "model.safetensors" not in files and "config.json" in files


def test_unknown_revision_is_a_config_error_naming_the_known_ones(released, tmp_path, capsys):
    assert spp_main(["download", str(released), "--revision", "step-0000003", "--to", str(tmp_path)]) == 2
    assert "step-0000002" in capsys.readouterr().err


def test_hub_download_goes_through_snapshot_download(monkeypatch, tmp_path):
    import huggingface_hub

    seen = {}

    def fake_snapshot_download(repo_id, **kwargs):
        seen.update(repo_id=repo_id, **kwargs)
        Path(kwargs["local_dir"], "config.json").parent.mkdir(parents=True, exist_ok=True)
        Path(kwargs["local_dir"], "config.json").write_text("{}")
        return kwargs["local_dir"]

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    files = download("org/spp-tiny", tmp_path / "dl", revision="step-0000004", include=["*.json"], api=object())
    assert files == ["config.json"]
    assert (seen["repo_id"], seen["revision"], seen["allow_patterns"], seen["repo_type"]) == (
        "org/spp-tiny", "step-0000004", ["*.json"], "model")  # fmt: skip


def test_hub_checkpoints_come_from_list_repo_refs_in_step_order():
    branches = [SimpleNamespace(name=n) for n in ("main", "step-0000010", "step-0000002", "tmp", "step-0000004")]

    class RefsApi:
        def list_repo_refs(self, repo_id, repo_type):
            assert (repo_id, repo_type) == ("org/spp-tiny", "model")
            return SimpleNamespace(branches=branches, tags=[])

    assert list_checkpoints("org/spp-tiny", api=RefsApi()) == ["step-0000002", "step-0000004", "step-0000010"]
