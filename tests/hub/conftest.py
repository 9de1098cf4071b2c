"""Fixtures for spp.hub tests: tiny real artifacts, and a recording stub at the HfApi boundary (the only stub)."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import httpx2
import pytest
from huggingface_hub.errors import HfHubHTTPError

from spp.metadata import SppMetadata

TOKEN = "hf_SpPtEsTtOkEn0123456789abcdefXYZ"


def http_error(status: int) -> HfHubHTTPError:
    request = httpx2.Request("POST", "https://huggingface.co/api/models/org/m/commit/step")
    return HfHubHTTPError(f"{status} Client Error", response=httpx2.Response(status, request=request))


class RecordingApi:
    """Stands in for ``HfApi``: records each call (what would go over HTTP) and can fail chosen uploads.

    ``failures`` maps the 1-based number of an ``upload_folder`` call to the errors its successive tries raise.
    """

    def __init__(self, failures: dict[int, list[Exception]] | None = None):
        self.calls: list[tuple[str, dict]] = []
        self.failures = {k: list(v) for k, v in (failures or {}).items()}
        self.upload_tries = 0
        self.uploads: list[dict] = []
        self.token_hits: list[str] = []
        self.download_dir = tempfile.mkdtemp(prefix="spp-stub-")

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

    def create_branch(self, repo_id, **kwargs):
        self.calls.append(("create_branch", {"repo_id": repo_id, **kwargs}))

    def create_tag(self, repo_id, **kwargs):
        self.calls.append(("create_tag", {"repo_id": repo_id, **kwargs}))

    def upload_folder(self, **kwargs):
        self.upload_tries += 1
        number = len(self.uploads) + 1
        if self.failures.get(number):
            self.calls.append(("upload_folder:failed", kwargs))
            raise self.failures[number].pop(0)
        root = Path(kwargs["folder_path"])
        files = {
            p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }
        self.token_hits += [str(p) for p in root.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
        record = {**kwargs, "files": files}
        self.uploads.append(record)
        self.calls.append(("upload_folder", record))

    def hf_hub_download(self, repo_id, filename, **kwargs):
        """The README that ``datasets.push_to_hub`` leaves: its own YAML (configs, dataset_info) and no body."""
        self.calls.append(("hf_hub_download", {"repo_id": repo_id, "filename": filename, **kwargs}))
        path = Path(self.download_dir) / filename
        path.write_text(
            "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n"
            "dataset_info:\n  splits:\n  - name: train\n    num_examples: 6\n---\n"
        )
        return str(path)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def spp_meta() -> SppMetadata:
    return SppMetadata(
        kind="model",
        persona={"name": "Aria", "identity": "a careful assistant"},
        constitution={"name": "spp-values", "version": "1.0", "hash": "c0ffee"},
        block_format={"marker": "<assistant>", "end_marker": ""},
        prompt_hash="p1234",
        arm="spp_t0",
        recipe_hash="r5678",
        lineage={"dataset": {"repo_id": "org/spp-corpus", "revision": "abc123"}},
        details={"selection": {"rule": "stratified", "fraction": 0.1, "seed": 7}, "placement": "pause"},
    )


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    return LlamaForCausalLM(config)


@pytest.fixture
def tiny_model_dir(tmp_path, spp_meta) -> Path:
    """A saved tiny Llama plus training leftovers that must never be published."""
    path = tmp_path / "model"
    tiny_llama().save_pretrained(path)
    spp_meta.save(path)
    (path / "training_args.bin").write_bytes(b"pickled args")
    (path / "optimizer.pt").write_bytes(b"optimizer state")
    (path / "checkpoint-2").mkdir()
    (path / "checkpoint-2" / "model.safetensors").write_bytes(b"old")
    return path


@pytest.fixture
def tiny_dataset_dir(tmp_path) -> Path:
    """A small augmented corpus saved with ``save_to_disk``, with its ``spp.json``."""
    from datasets import Dataset

    rows = {
        "id": [f"doc-{i}" for i in range(6)],
        "text": [f"document number {i}" for i in range(6)],
        "reflection_1p": [None, "I think this is fine.", None, "I would not do that.", None, None],
        "reflection_status": ["none", "ok", "none", "ok", "rejected", "none"],
        "harm_score": [0.0, 1.0, 0.0, 4.0, 3.0, 0.0],
    }
    path = tmp_path / "dataset"
    Dataset.from_dict(rows).save_to_disk(str(path))
    SppMetadata(
        kind="dataset",
        persona={"name": "Aria"},
        constitution={"name": "spp-values", "version": "1.0", "hash": "c0ffee"},
        block_format={"marker": "<assistant>"},
        prompt_hash="p1234",
        lineage={"source": {"repo_id": "HuggingFaceFW/fineweb-edu", "revision": "v1.2.0"}},
        details={"selection": {"rule": "stratified", "seed": 7, "fraction": 0.1}, "generator": {"model": "gen-8b"}},
    ).save(path)
    return path


@pytest.fixture
def stub():
    """The helpers above, for test modules (``--import-mode=importlib`` cannot import conftest by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(RecordingApi=RecordingApi, http_error=http_error, tiny_llama=tiny_llama, TOKEN=TOKEN)
