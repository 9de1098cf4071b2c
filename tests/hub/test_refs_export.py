"""Revision names and the local export folder."""

from __future__ import annotations

import pytest

from spp.errors import SppConfigError
from spp.hub.export import LocalExport
from spp.hub.refs import check_revision, parse_step, step_branch, step_branches


def test_step_branches_are_zero_padded_and_sort_in_step_order():
    assert step_branch(1000) == "step-0001000"
    names = ["main", step_branch(10), "v1.0", step_branch(2), "step-12", step_branch(100)]
    assert step_branches(names) == ["step-0000002", "step-0000010", "step-0000100"]
    assert parse_step("step-0000100") == 100 and parse_step("step-12") is None
    with pytest.raises(SppConfigError):
        step_branch(10**7)


@pytest.mark.parametrize("bad", ["", "refs/heads/x", "../up", "a b", "-x"])
def test_odd_revision_names_are_refused(bad):
    with pytest.raises(SppConfigError, match="branch or tag name"):
        check_revision(bad)


def test_rewriting_an_unchanged_tree_touches_nothing(tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "b.txt").write_text("b")
    export = LocalExport(tmp_path / "export", repo_id="org/x")
    assert export.write_tree("main", tree) is True
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "export").rglob("*")}
    assert export.write_tree("main", tree) is False
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "export").rglob("*")} == stamp

    (tree / "a.txt").write_text("changed")
    (tree / "sub" / "b.txt").unlink()
    assert export.write_tree("main", tree) is True
    assert sorted(export.files("main")) == ["a.txt"]
    assert not (tmp_path / "export" / "main" / "sub" / "b.txt").exists()


def test_a_tag_freezes_its_revision(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "w.bin").write_bytes(b"v1")
    export = LocalExport(tmp_path / "export")
    export.write_tree("main", tree)
    assert export.tag("v1.0", "main") is True
    (tree / "w.bin").write_bytes(b"v2")
    export.write_tree("main", tree)
    assert export.tag("v1.0", "main") is False
    assert (tmp_path / "export" / "v1.0" / "w.bin").read_bytes() == b"v1"
    assert export.refs("tag") == ["v1.0"] and export.refs("branch") == ["main"]
    with pytest.raises(SppConfigError, match="use one of: main, v1.0"):
        export.files("step-0000002")


def test_an_export_holds_one_repo_type(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "x").write_text("x")
    LocalExport(tmp_path / "export", repo_type="model").write_tree("main", tree)
    with pytest.raises(SppConfigError, match="holds a model repo"):
        LocalExport(tmp_path / "export", repo_type="dataset").write_tree("main", tree)


def test_clear_export_removes_every_ref_and_the_index_and_keeps_what_spp_did_not_write(tmp_path):
    """``spp.hub.owners.clear_export`` (``spp experiment`` rerunning a step whose recipe changed): every ref folder
    and the index go, a user's file stays; a folder that is not an export is left alone."""
    from spp.hub.owners import clear_export

    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "model.safetensors").write_text("weights")
    export = LocalExport(tmp_path / "export", repo_id="org/model")
    export.write_tree("main", tree)
    export.write_tree("step-0000002", tree)
    export.tag("v1.0", "main")
    (tmp_path / "export" / "notes.txt").write_text("mine")
    assert sorted(clear_export(tmp_path / "export")) == ["main", "step-0000002", "v1.0"]
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["notes.txt"]
    assert clear_export(tmp_path / "export") == [] and clear_export(tree) == []
    assert (tree / "model.safetensors").is_file()
    (tmp_path / "export" / "notes.txt").unlink()
    export.write_tree("main", tree)
    assert clear_export(tmp_path / "export") == ["main"] and not (tmp_path / "export").exists()
