"""``spp curves``: measures on every step-* branch of an exported model, in step order, cached per branch."""

from __future__ import annotations

import json
import math

import pytest

from spp.demo.corpus import write_demo_corpus
from spp.eval import curves
from spp.eval.curves import CurvesConfig, write_curves
from spp.hub.export import LocalExport
from spp.metadata import SppMetadata
from spp.persona import load_persona
from spp.pretrain.data import load_corpus
from spp.pretrain.specs import build_model
from spp.pretrain.tokenizer import load_tokenizer

pytestmark = pytest.mark.slow  # builds a corpus, a tokenizer and three tiny models

STEPS = (30, 10, 20)  # exported out of order: the table must still follow the steps
VIEW = {"seq_len": 64, "reflection_budget": 32, "heldout_documents": 12, "voice": "1p", "data_seed": 0,
        "layout": "dense", "windows_per_step": 2}  # fmt: skip


def _checkpoint(folder, corpus_dir, tokenizer, step: int, seed: int):
    model = build_model("tiny", tokenizer, seed=seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    SppMetadata(
        kind="checkpoint",
        persona=load_persona().to_dict(),
        arm="spp_t0",
        lineage={"dataset": str(corpus_dir)},
        details={"data_view": VIEW, "step": step, "branch": f"step-{step:07d}"},
    ).save(folder)
    return folder


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    root = tmp_path_factory.mktemp("curves")
    corpus_dir = write_demo_corpus(root / "corpus", rows=60, seed=3, reflection_rate=0.5)
    _, block_format = load_corpus(corpus_dir)
    tokenizer = load_tokenizer(str(corpus_dir / "tokenizer"), block_format, eos_token="<|endoftext|>")
    repo = LocalExport(root / "hub" / "models" / "tiny-spp_t0")
    for step in STEPS:
        repo.write_tree(f"step-{step:07d}", _checkpoint(root / f"ck{step}", corpus_dir, tokenizer, step, seed=step))
    return root, repo, tokenizer, corpus_dir


def _counting(monkeypatch):
    calls: list[tuple[str, str]] = []
    for name, function in dict(curves.MEASURES).items():

        def counted(branch, config, _name=name, _function=function):
            calls.append((_name, branch.name))
            return _function(branch, config)

        monkeypatch.setitem(curves.MEASURES, name, counted)
    return calls


def test_one_row_per_branch_in_step_order_cached_on_rerun_png_written(export, monkeypatch):
    root, repo, tokenizer, corpus_dir = export
    calls = _counting(monkeypatch)
    config = CurvesConfig(
        models=[str(repo.root)], measures=["reflection_loss", "probes"], output_dir=str(root / "out")
    )

    first = write_curves(config)
    assert [r["branch"] for r in first["rows"]] == ["step-0000010", "step-0000020", "step-0000030"]
    assert [r["tokens_seen"] for r in first["rows"]] == [10 * 2 * 64, 20 * 2 * 64, 30 * 2 * 64]
    losses = [r["heldout_reflection_loss"] for r in first["rows"]]
    assert all(math.isfinite(x) and x > 0 for x in losses) and len(set(losses)) == 3  # three different models
    assert all(r["heldout_reflection_tokens"] > 0 for r in first["rows"])
    assert all(r["probe_recall"] is not None and r["control_recall"] is not None for r in first["rows"])
    assert (first["evaluated"], first["cached"]) == (6, 0) and len(calls) == 6
    png = first["files"]["png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    table = first["files"]["markdown"].read_text()
    assert [line.split(" | ")[1] for line in table.splitlines() if line.startswith("| spp_t0")] == [
        "step-0000010", "step-0000020", "step-0000030"
    ]  # fmt: skip

    again = write_curves(config)
    assert (again["evaluated"], again["cached"]) == (0, 6) and len(calls) == 6  # nothing evaluated twice
    assert again["rows"] == first["rows"]
    assert json.loads(first["files"]["json"].read_text())["rows"] == first["rows"]

    # a branch whose files change is evaluated again, and only that branch
    repo.write_tree("step-0000020", _checkpoint(root / "ck20b", corpus_dir, tokenizer, 20, seed=99))
    changed = write_curves(config)
    assert (changed["evaluated"], changed["cached"]) == (2, 4)
    assert calls[-2:] == [("reflection_loss", "step-0000020"), ("probes", "step-0000020")]
    assert changed["rows"][1]["heldout_reflection_loss"] != first["rows"][1]["heldout_reflection_loss"]


def test_same_loss_as_the_pretraining_callback_on_the_same_windows(export):
    """The curve's loss is the callback's measure: same windows as ``spp pretrain`` builds, same numbers."""
    from functools import partial

    import torch
    from transformers import AutoModelForCausalLM

    from spp.pretrain.arms import make_view
    from spp.pretrain.callbacks import kind_losses
    from spp.pretrain.data import DocumentStream, PackedArm, split_and_order
    from spp.pretrain.documents import tokenize_batch
    from spp.pretrain.heldout import heldout_windows
    from spp.pretrain.tokenizer import marker_ids

    root, repo, tokenizer, corpus_dir = export
    dataset, block_format = load_corpus(corpus_dir)
    _, held = split_and_order(dataset, VIEW["heldout_documents"], 0, True)  # as the builder: shuffle does not touch it
    tokenize = partial(tokenize_batch, tokenizer=tokenizer, voice="1p", marker_ids=marker_ids(tokenizer, block_format))
    arm = PackedArm(DocumentStream(held, tokenize), make_view("spp_t0"), seq_len=64, reflection_budget=32,
                    eos_id=tokenizer.eos_token_id, pad_id=tokenizer.pad_token_id)  # fmt: skip
    expected_windows = heldout_windows(arm, 8)
    model = AutoModelForCausalLM.from_pretrained(repo.root / "step-0000010").eval()
    with torch.no_grad():
        expected = kind_losses(model, expected_windows, torch.device("cpu"))
    config = CurvesConfig(models=[str(repo.root)], measures=["reflection_loss"], output_dir=str(root / "out2"))
    row = write_curves(config)["rows"][0]
    assert row["heldout_reflection_tokens"] == expected["heldout_reflection_tokens"]
    assert row["heldout_reflection_loss"] == pytest.approx(expected["heldout_reflection_loss"], rel=1e-5)


def test_no_checkpoint_branches_is_a_config_error(tmp_path):
    from spp.errors import SppConfigError

    repo = LocalExport(tmp_path / "empty")
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "x.txt").write_text("x")
    repo.write_tree("main", tmp_path / "tree")
    with pytest.raises(SppConfigError, match="no step-"):
        write_curves(CurvesConfig(models=[str(repo.root)], output_dir=str(tmp_path / "out")))
