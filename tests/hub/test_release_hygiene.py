"""Release trees: top-level safetensors, configs, tokenizer, card and spp.json only; no pickle at any depth."""

from __future__ import annotations

import pytest

from spp.errors import SppConfigError
from spp.hub.export import LocalExport
from spp.hub.publish import publish_model

from .conftest import RecordingApi


def _nest_training_state(path) -> None:
    """What a two-stage SFT leaves in its output folder besides the model."""
    for sub in ("stage-1/checkpoint-4", "checkpoint-8", "runs/Dec01"):
        (path / sub).mkdir(parents=True)
    (path / "stage-1" / "model.safetensors").write_bytes(b"stage-1 weights")
    (path / "stage-1" / "training_args.bin").write_bytes(b"args with a token")
    (path / "stage-1" / "checkpoint-4" / "optimizer.pt").write_bytes(b"adam")
    (path / "stage-1" / "checkpoint-4" / "rng_state.pth").write_bytes(b"rng")
    (path / "stage-1" / "checkpoint-4" / "scheduler.pt").write_bytes(b"sched")
    (path / "runs" / "Dec01" / "events.out.tfevents").write_bytes(b"logs")
    (path / "pytorch_model.bin").write_bytes(b"pickled weights beside the safetensors")
    (path / "trainer_state.json").write_text("{}")


def test_nested_training_state_never_reaches_an_export_or_the_hub(tiny_model_dir, tmp_path):
    _nest_training_state(tiny_model_dir)
    publish_model(tiny_model_dir, to_dir=tmp_path / "export")
    files = set(LocalExport(tmp_path / "export").files("main"))
    assert files == {"config.json", "generation_config.json", "model.safetensors", "README.md", "spp.json"}
    api = RecordingApi()
    publish_model(tiny_model_dir, repo_id="org/m", api=api)
    assert set(api.uploads[0]["files"]) == files


def test_a_folder_with_only_pickled_weights_is_refused(tmp_path):
    path = tmp_path / "model"
    path.mkdir()
    (path / "config.json").write_text("{}")
    (path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(SppConfigError, match="no safetensors weights"):
        publish_model(path, to_dir=tmp_path / "export")
    assert not (tmp_path / "export").exists()
