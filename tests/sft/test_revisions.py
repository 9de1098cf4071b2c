"""Pinned data: Hub datasets resolve to a commit sha (or are refused), and the SFT hash covers the resolved sha."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from spp.errors import SppConfigError
from spp.sft.identity import sft_hash
from spp.sft.revisions import pin_revisions

SHA = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"


class InfoApi:
    """Stands in for ``HfApi.dataset_info`` (the Hub boundary): maps (repo, revision) to a commit sha."""

    def __init__(self, shas: dict[tuple[str, str], str]):
        self.shas = shas
        self.calls: list[tuple[str, str]] = []

    def dataset_info(self, repo_id, revision=None):
        self.calls.append((repo_id, revision))
        return SimpleNamespace(sha=self.shas[(repo_id, revision)])


def test_resolve_pins_branches_and_records_what_was_asked(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    local = tmp_path / "local.jsonl"
    local.write_text("{}\n")
    api = InfoApi({("org/a", "main"): SHA, ("org/b", "v1"): OTHER})
    datasets = [{"path": "org/a", "revision": "main"}, {"path": "org/b", "revision": "v1"}, {"path": str(local)}]
    pinned = pin_revisions(datasets + [{"path": "org/c", "revision": SHA}], "resolve", api=api)
    assert [d.get("revision") for d in pinned] == [SHA, OTHER, None, SHA]
    assert pinned[0]["requested_revision"] == "main" and "requested_revision" not in pinned[3]
    assert api.calls == [("org/a", "main"), ("org/b", "v1")]  # a sha and a local file need no look-up


def test_require_refuses_a_moving_ref_and_offline_cannot_resolve(monkeypatch):
    with pytest.raises(SppConfigError, match="not a commit sha"):
        pin_revisions([{"path": "org/a", "revision": "main"}], "require")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SppConfigError, match="HF_HUB_OFFLINE"):
        pin_revisions([{"path": "org/a"}], "resolve")


def test_sft_hash_covers_the_resolved_sha_not_the_ref(tmp_path, monkeypatch):
    from spp.sft.config import SPPSFTConfig

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def config(shas):
        datasets = pin_revisions([{"path": "org/a", "revision": "main"}], "resolve", api=InfoApi(shas))
        return SPPSFTConfig(output_dir=str(tmp_path), datasets=datasets, bf16=False, use_cpu=True)

    pinned_by_hand = SPPSFTConfig(
        output_dir=str(tmp_path), datasets=[{"path": "org/a", "revision": SHA}], bf16=False, use_cpu=True
    )
    template = "{{ messages }}"
    assert sft_hash(config({("org/a", "main"): SHA}), template) == sft_hash(pinned_by_hand, template)
    assert sft_hash(config({("org/a", "main"): OTHER}), template) != sft_hash(pinned_by_hand, template)
