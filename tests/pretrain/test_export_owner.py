"""An export (checkpoint_export_dir) or Hub repo (hub_model_id) holds one run: a second run of another recipe is
refused before its first save, naming both; the same run resumes; --overwrite replaces only that run's refs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from spp.cli import main as spp_main
from spp.metadata import read_metadata

REPO = Path(__file__).parents[2]


def tiny(corpus_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["pretrain", "--config", str(REPO / "recipes/pretrain/tiny.yaml"), "--dataset_path", str(corpus_dir),
            "--tokenizer_name_or_path", str(corpus_dir / "tokenizer"), "--output_dir", str(out),
            "--max_steps", "2", "--save_steps", "1", "--disable_tqdm", "true", *extra]  # fmt: skip


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def first_run(corpus_dir, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("export-owner")
    out, export = root / "first", root / "export"
    assert spp_main(tiny(corpus_dir, out, "--checkpoint_export_dir", str(export))) == 0
    assert sorted(p.name for p in export.iterdir() if p.is_dir()) == ["main", "step-0000001", "step-0000002"]
    return out, export


def test_a_second_run_of_another_recipe_into_the_same_export_is_refused_and_changes_nothing(
    corpus_dir, first_run, tmp_path, capsys
):
    out, export = first_run
    before = tree(export)
    mine = read_metadata(export / "main")
    argv = tiny(corpus_dir, tmp_path / "second", "--checkpoint_export_dir", str(export), "--learning_rate", "0.002")
    assert spp_main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "field 'checkpoint_export_dir'" in err and "holds another run" in err
    assert mine.recipe_hash[:12] in err  # names the run that wrote the export ...
    theirs = err.split("this run has recipe hash ")[1][:12]
    assert theirs != mine.recipe_hash[:12]  # ... and this one
    assert tree(export) == before, "the first run's main and branches changed"
    assert not list((tmp_path / "second").glob("checkpoint-*")), "the refused run trained and saved"


def test_the_same_run_resumes_into_its_own_export(corpus_dir, first_run, capsys):
    out, export = first_run
    argv = tiny(corpus_dir, out, "--checkpoint_export_dir", str(export), "--resume_from_checkpoint", "true")
    assert spp_main(argv) == 0, capsys.readouterr().err
    assert sorted(p.name for p in export.iterdir() if p.is_dir()) == ["main", "step-0000001", "step-0000002"]


def test_overwrite_replaces_the_other_runs_refs_and_keeps_the_users_files(corpus_dir, first_run, tmp_path):
    import shutil

    _, export = first_run
    copy = tmp_path / "export"
    shutil.copytree(export, copy)
    (copy / "NOTES.md").write_text("why this export exists\n")
    first_hash = read_metadata(copy / "main").recipe_hash
    argv = tiny(corpus_dir, tmp_path / "second", "--checkpoint_export_dir", str(copy), "--learning_rate", "0.002",
                "--max_steps", "1", "--overwrite", "true")  # fmt: skip
    assert spp_main(argv) == 0
    assert sorted(p.name for p in copy.iterdir() if p.is_dir()) == ["main", "step-0000001"]  # step-2 went
    assert {read_metadata(copy / ref).recipe_hash for ref in ("main", "step-0000001")} != {first_hash}
    assert (copy / "NOTES.md").read_text() == "why this export exists\n"
    assert "step-0000002" not in json.loads((copy / "spp_export.json").read_text())["refs"]


class HubRepo:
    """Stands in for ``huggingface_hub.HfApi`` (the HTTP boundary): a repo whose branches hold ``spp.json`` files;
    records every call. No upload is expected before the owner check passes."""

    branches: dict[str, dict] = {}
    calls: list[tuple[str, dict]] = []

    def __init__(self, *args, **kwargs):
        pass

    def list_repo_refs(self, repo_id, **kwargs):
        self.calls.append(("list_repo_refs", {"repo_id": repo_id}))
        return SimpleNamespace(branches=[SimpleNamespace(name=n, target_commit="c" * 40) for n in self.branches])

    def hf_hub_download(self, repo_id, filename, revision=None, **kwargs):
        self.calls.append(("hf_hub_download", {"repo_id": repo_id, "filename": filename, "revision": revision}))
        path = Path(self.tmp) / revision / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.branches[revision]))
        return str(path)

    def list_repo_files(self, repo_id, revision=None, **kwargs):
        return [".gitattributes", "spp.json"]

    def __getattr__(self, name):  # create_repo, create_branch, upload_folder, delete_branch, ...
        def call(*args, **kwargs):
            self.calls.append((name, kwargs))

        return call


def test_a_hub_repo_holding_another_run_is_refused_before_the_first_upload(
    corpus_dir, tmp_path, monkeypatch, capsys
):
    import huggingface_hub

    other = {"kind": "checkpoint", "recipe_hash": "f" * 64, "details": {"data_view_hash": "e" * 64}}
    monkeypatch.setattr(HubRepo, "branches", {"main": other, "step-0000005": other})
    monkeypatch.setattr(HubRepo, "calls", [])
    monkeypatch.setattr(HubRepo, "tmp", str(tmp_path / "hub"), raising=False)
    monkeypatch.setattr(huggingface_hub, "HfApi", HubRepo)
    argv = tiny(corpus_dir, tmp_path / "run", "--hub_model_id", "org/spp-tiny")
    assert spp_main(argv) == 2
    err = capsys.readouterr().err
    assert "Hub repo org/spp-tiny holds another run" in err and "f" * 12 in err and "e" * 12 in err
    names = [name for name, _ in HubRepo.calls]
    assert "upload_folder" not in names and "delete_branch" not in names and "create_repo" not in names
    assert not list((tmp_path / "run").glob("checkpoint-*"))

    HubRepo.calls.clear()
    assert spp_main([*argv, "--overwrite", "true"]) == 0
    deleted = [kwargs["branch"] for name, kwargs in HubRepo.calls if name == "delete_branch"]
    uploaded = [kwargs["revision"] for name, kwargs in HubRepo.calls if name == "upload_folder"]
    assert deleted == ["step-0000005"]  # main is replaced by this run's own upload
    assert uploaded == ["step-0000001", "step-0000002", "main"]
    assert HubRepo.calls.index(("delete_branch", {"branch": "step-0000005"})) < next(
        i for i, (name, _) in enumerate(HubRepo.calls) if name == "upload_folder"
    )
