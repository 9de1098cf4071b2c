"""``spp curves`` over a released trajectory (the stand-in bases: ``stepN-tokensXB`` refs, no spp.json), from a local
export and through the stubbed Hub: matching refs in step order, the others counted and listed, a cache per
resolved sha, and the view from flags and the corpus's spp.json."""

from __future__ import annotations

import json
import shutil

import pytest

from spp.cli import main as spp_main
from spp.eval import curves
from spp.testing.release import BASE_STEPS, TOKENS_PER_STEP, base_repo, step_ref, write_release_corpus

pytestmark = pytest.mark.slow  # builds the release stand-ins and measures tiny models


@pytest.fixture(scope="module")
def corpus(release, tmp_path_factory):
    return write_release_corpus(tmp_path_factory.mktemp("corpus") / "corpus", release.tokenizer_dir)


def _argv(model, out, corpus, *extra):
    return ["curves", str(model), "--measures", "reflection_loss", "--corpus", str(corpus), "--seq_len", "128",
            "--reflection_budget", "64", "--heldout_documents", "20", "--heldout_windows", "4", "--device", "cpu",
            "--tokens_per_step", str(TOKENS_PER_STEP), "--output_dir", str(out), *extra]  # fmt: skip


def _measured(monkeypatch) -> list[str]:
    seen: list[str] = []
    real = curves.MEASURES["reflection_loss"]

    def counted(branch, config):
        seen.append(branch.name)
        return real(branch, config)

    monkeypatch.setitem(curves.MEASURES, "reflection_loss", counted)
    return seen


@pytest.mark.parametrize("served", ["export", "hub"])
def test_every_matching_ref_in_step_order_then_nothing_new(release, corpus, tmp_path, monkeypatch, hub, served):
    model = release.base("t0") if served == "export" else base_repo("t0")
    seen = _measured(monkeypatch)
    out = tmp_path / "out"
    assert spp_main(_argv(model, out, corpus)) == 0
    result = json.loads((out / "curves.json").read_text())
    refs = [step_ref(s) for s in BASE_STEPS]
    assert [r["branch"] for r in result["rows"]] == refs == seen  # every matching ref, in step order, measured once
    assert [r["tokens_seen"] for r in result["rows"]] == [s * TOKENS_PER_STEP for s in BASE_STEPS]
    assert {r["label"] for r in result["rows"]} == {"t0"}  # the release registry lists this repo as arm t0
    losses = [r["heldout_reflection_loss"] for r in result["rows"]]
    assert len(set(losses)) == 3 and all(loss > 0 for loss in losses)  # three different checkpoints
    assert result["not_matching"] == {"count": 2, "refs": {str(model): ["main", "v1.0"]}}
    assert "Refs not matching branch_pattern" in (out / "curves.md").read_text()
    if served == "hub":  # each revision downloaded at its commit
        commits = {r.name: r.target_commit for r in hub.list_repo_refs(base_repo("t0")).branches}
        assert [c for c in hub.calls if c[0] == "snapshot_download"] == [
            ("snapshot_download", base_repo("t0"), commits[ref]) for ref in refs
        ]
        assert [r["sha"] for r in result["rows"]] == [commits[ref] for ref in refs]
    assert spp_main(_argv(model, out, corpus)) == 0
    again = json.loads((out / "curves.json").read_text())
    assert (again["evaluated"], again["cached"]) == (0, 3) and seen == refs  # a rerun evaluates nothing new
    assert again["rows"] == result["rows"]


def test_a_pattern_that_matches_nothing_stops_naming_the_field_and_writes_nothing(release, corpus, tmp_path, capsys):
    out = tmp_path / "out"
    assert spp_main(_argv(release.base("vanilla"), out, corpus, "--branch_pattern", r"^ckpt-(\d+)$")) == 2
    err = capsys.readouterr().err
    assert "field 'branch_pattern'" in err and "step1000-tokens2B" in err and not out.exists()
    assert spp_main(_argv(release.base("vanilla"), out, corpus, "--branch_pattern", r"^step(\d+)-(\w+)$")) == 2
    assert "needs one group capturing the step" in capsys.readouterr().err and not out.exists()


def test_without_spp_json_seq_len_and_budget_come_from_the_corpus_and_a_contradiction_is_refused(
    release, corpus, tmp_path, capsys
):
    """A released base has no spp.json: seq_len and the budget come from the corpus's spp.json (the same losses as
    the flags that state them); a flag the corpus contradicts, or a corpus without spp.json and no flag, is exit 2
    naming the field, before any measure."""
    sizes = ("--seq_len", "128", "--reflection_budget", "64")
    model = release.base("mt")
    assert spp_main([a for a in _argv(model, tmp_path / "implicit", corpus) if a not in sizes]) == 0
    assert spp_main(_argv(model, tmp_path / "explicit", corpus)) == 0
    losses = {
        out: [r["heldout_reflection_loss"] for r in json.loads((tmp_path / out / "curves.json").read_text())["rows"]]
        for out in ("implicit", "explicit")
    }
    assert losses["implicit"] == losses["explicit"] and len(losses["implicit"]) == 3
    wrong = [("96" if a == "128" else a) for a in _argv(model, tmp_path / "wrong", corpus)]
    assert spp_main(wrong) == 2
    err = capsys.readouterr().err
    assert "field 'seq_len'" in err and "records 128" in err and not (tmp_path / "wrong" / "curves.json").exists()
    bare = tmp_path / "bare-corpus"
    shutil.copytree(corpus, bare)
    (bare / "spp.json").unlink()
    assert spp_main([a for a in _argv(model, tmp_path / "bare", bare) if a not in sizes]) == 2
    assert "field 'seq_len'" in capsys.readouterr().err
