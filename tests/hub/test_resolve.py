"""Pinning a model reference at a revision (``spp.hub.resolve``): what each kind of reference resolves to, and the
errors that name the revision and the refs that exist."""

from __future__ import annotations

import pytest

from spp.cli import main as spp_main
from spp.errors import SppConfigError
from spp.hub.export import LocalExport
from spp.hub.resolve import fetch, folder_digest, list_refs, manifest_digest, resolve_revision


@pytest.fixture
def export(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "config.json").write_text("{}")
    repo = LocalExport(tmp_path / "export", repo_id="org/model")
    repo.write_tree("main", tree)
    (tree / "config.json").write_text('{"a": 1}')
    repo.write_tree("step1000", tree)
    repo.tag("v1", "main")
    return repo


def test_an_export_ref_resolves_to_its_manifest_digest_and_folder(export):
    pinned = resolve_revision(str(export.root), "step1000")
    assert pinned.sha == manifest_digest(export.files("step1000")) and pinned.path == export.root / "step1000"
    assert resolve_revision(str(export.root)).revision == "main"
    assert [(r.name, r.kind) for r in list_refs(str(export.root))] == [("main", "branch"), ("step1000", "branch"),
                                                                      ("v1", "tag")]  # fmt: skip
    with pytest.raises(SppConfigError, match="'nope' does not exist") as err:
        resolve_revision(str(export.root), "nope")
    assert err.value.field == "revision" and "main, step1000, v1" in str(err.value)


def test_a_plain_folder_has_no_revisions_and_is_pinned_by_its_model_files(tmp_path):
    folder = tmp_path / "model"
    (folder / "checkpoint-5").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    before = folder_digest(folder)
    (folder / "checkpoint-5" / "optimizer.pt").write_bytes(b"x")  # not a model file of this folder
    assert folder_digest(folder) == before
    (folder / "config.json").write_text('{"changed": true}')
    assert folder_digest(folder) != before
    with pytest.raises(SppConfigError, match="plain folder"):
        resolve_revision(str(folder), "step-0000002")


def test_offline_a_hub_revision_resolves_from_the_local_cache(monkeypatch, tmp_path):
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    snapshot = tmp_path / "models--org--m" / "snapshots" / ("c" * 40)
    snapshot.mkdir(parents=True)

    def cached(repo_id, revision=None, local_files_only=False, **kwargs):
        assert local_files_only  # offline: never the network
        if revision != "main":
            raise LocalEntryNotFoundError("not cached")
        return str(snapshot)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", cached)
    pinned = resolve_revision("org/m", "main")
    assert pinned.sha == "c" * 40 and fetch(pinned) == snapshot
    with pytest.raises(SppConfigError, match="not in the local Hub cache") as err:
        resolve_revision("org/m", "step-1")
    assert err.value.field == "revision"


def test_checkpoints_lists_the_refs_a_branch_pattern_matches(export, capsys):
    assert spp_main(["checkpoints", str(export.root), "--branch_pattern", r"^step(\d+)$"]) == 0
    assert capsys.readouterr().out.split() == ["step1000"]
    assert spp_main(["checkpoints", str(export.root), "--branch_pattern", ".*"]) == 0
    assert capsys.readouterr().out.split() == ["main", "step1000", "v1"]
