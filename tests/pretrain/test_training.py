"""Training on CPU with the tiny spec: exact resume, 2-process DDP (gloo) vs 1 process, the CLI end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from spp.cli import main as spp_main
from spp.metadata import read_metadata
from spp.pretrain import SPPDataArguments, SPPModelArguments, SPPTrainer, SPPTrainingArguments, build_run

HERE = Path(__file__).parent
REPO = HERE.parents[1]


class LossRecorder(SPPTrainer):
    """Keeps every micro-batch's exact loss and input_ids."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        self.recorded.append((self.state.global_step, loss.item(), inputs["input_ids"].clone()))
        return loss


def tiny_run(corpus_dir, output_dir, token_cache_dir=None, **training):
    model = SPPModelArguments(tokenizer_name_or_path=f"{corpus_dir}/tokenizer", pad_vocab_to_multiple_of=8)
    data = SPPDataArguments(
        dataset_path=str(corpus_dir), arm="spp_t0", seq_len=64, reflection_budget=24, token_cache_dir=token_cache_dir
    )
    defaults = dict(
        output_dir=str(output_dir),
        max_steps=6,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        learning_rate=3e-3,
        warmup_steps=1,
        logging_steps=1,
        save_steps=3,
        report_to="none",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
    )
    run = build_run(model, data, SPPTrainingArguments(**(defaults | training)))
    trainer = LossRecorder(model=run.model, args=run.args, train_dataset=run.train_dataset)
    trainer.recorded = []
    return trainer


@pytest.mark.parametrize("token_cache", [False, True], ids=["tokenized-on-the-fly", "token-cache-seek"])
def test_resume_continues_with_the_same_batches_and_losses(corpus_dir, tmp_path, token_cache, caplog):
    cache = str(tmp_path / "tokens") if token_cache else None
    whole = tiny_run(corpus_dir, tmp_path / "whole", token_cache_dir=cache)
    whole.train()
    resumed = tiny_run(corpus_dir, tmp_path / "resumed", token_cache_dir=cache)
    with caplog.at_level("INFO", logger="spp.pretrain"):
        resumed.train(resume_from_checkpoint=str(tmp_path / "whole" / "checkpoint-3"))
    # 3 steps x 2 windows x 2 accumulation were trained: the stream starts at window 12 (by seeking with the cache)
    how = "looked up in the window index" if token_cache else "by packing the windows before it"
    assert f"stream resumes at window 12: {how}" in caplog.text or f"stream resumes at window 12 {how}" in caplog.text
    assert resumed.train_dataset.start_window == 0 and not resumed.args.ignore_data_skip  # restored after train
    after = [r for r in whole.recorded if r[0] >= 3]
    assert len(after) == len(resumed.recorded) == 6
    for (step, loss, ids), (step2, loss2, ids2) in zip(after, resumed.recorded, strict=True):
        assert step == step2 and torch.equal(ids, ids2)
        assert abs(loss - loss2) <= 1e-6
    for a, b in zip(whole.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def launch(corpus_dir, output_dir, processes: int, *extra: str):
    """``ddp_train.py`` alone, or as ``processes`` CPU processes with the launch line ``spp.launch.TWO_CPU_PROCESSES``
    and recipes/README.md document (``accelerate launch --config_file recipes/accelerate/ddp.yaml --num_processes
    N``; the script sets ``use_cpu``: gloo)."""
    script = str(HERE / "ddp_train.py")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    if processes == 1:
        command = [sys.executable, script]
    else:
        accelerate = str(Path(sys.executable).parent / "accelerate")
        command = [accelerate, "launch", "--config_file", str(REPO / "recipes/accelerate/ddp.yaml")]
        command += ["--num_processes", str(processes), "--main_process_port", "0", script]
    subprocess.run([*command, str(corpus_dir), str(output_dir), *extra], check=True, env=env, cwd=REPO, timeout=600)
    return [json.loads((output_dir / f"rank{r}.json").read_text()) for r in range(processes)]


def by_step(rank: dict, step: int) -> list:
    return [w for b in rank["batches"] if b["step"] == step for w in b["input_ids"]]


def test_two_cpu_processes_train_disjoint_windows_whose_union_is_the_stream_and_resume_exactly(corpus_dir, tmp_path):
    """Two real processes over the token cache (the window index built by one of them, read by both): rank r trains
    global windows k = r (mod 2) of the single-process stream, and a 2-process resume continues exactly."""
    sys.path.insert(0, str(HERE))
    from ddp_train import tiny_configs

    cache = str(tmp_path / "tokens")
    whole = launch(corpus_dir, tmp_path / "whole", 2, "--token_cache", cache, "--save_steps", "2")
    assert [r["world_size"] for r in whole] == [2, 2] and [r["accumulation"] for r in whole] == [1, 1]
    stream = build_run(*tiny_configs(str(corpus_dir), str(tmp_path / "probe"), cache)).train_dataset  # 1 process
    windows = [w.input_ids[:-1] for _, w in zip(range(16), stream.windows(), strict=False)]
    trained = [[w for step in range(4) for w in by_step(rank, step)] for rank in whole]
    assert [len(t) for t in trained] == [8, 8]
    assert trained[0] == windows[0::2] and trained[1] == windows[1::2]  # disjoint, and the union is the stream
    assert len({tuple(w) for w in trained[0]} & {tuple(w) for w in trained[1]}) == 0
    resumed = launch(corpus_dir, tmp_path / "resumed", 2, "--token_cache", cache, "--resume",
                     str(tmp_path / "whole" / "checkpoint-2"))  # fmt: skip
    for rank in range(2):
        assert [by_step(resumed[rank], s) for s in (2, 3)] == [by_step(whole[rank], s) for s in (2, 3)]
        assert resumed[rank]["losses"][-2:] == pytest.approx(whole[rank]["losses"][-2:], abs=1e-6)  # steps 3, 4
    a = load_file(tmp_path / "whole" / "final" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "final" / "model.safetensors")
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-6


@pytest.mark.slow
def test_two_cpu_processes_split_the_stream_and_match_one_process(corpus_dir, tmp_path):
    (single,) = launch(corpus_dir, tmp_path / "one", 1)
    ranks = launch(corpus_dir, tmp_path / "two", 2)
    assert single["accumulation"] == 2 and [r["accumulation"] for r in ranks] == [1, 1]
    assert [r["world_size"] for r in ranks] == [2, 2]
    for step in range(4):
        one = by_step(single, step)
        two = [by_step(r, step) for r in ranks]
        assert len(one) == 4 and [len(t) for t in two] == [2, 2]
        assert two[0] == [one[0], one[2]] and two[1] == [one[1], one[3]]
    assert ranks[0]["losses"] == pytest.approx(single["losses"], abs=1e-4)
    a = load_file(tmp_path / "one" / "final" / "model.safetensors")
    b = load_file(tmp_path / "two" / "final" / "model.safetensors")
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5


def test_cli_tiny_recipe_trains_and_exports_step_branches(corpus_dir, tmp_path):
    out, export = tmp_path / "out", tmp_path / "export"
    code = spp_main(
        ["pretrain", "--config", str(REPO / "recipes/pretrain/tiny.yaml"), "--dataset_path", str(corpus_dir)]
        + ["--tokenizer_name_or_path", str(corpus_dir / "tokenizer"), "--output_dir", str(out)]
        + ["--checkpoint_export_dir", str(export), "--disable_tqdm", "true"]
    )
    assert code == 0
    assert sorted(p.name for p in export.iterdir() if p.is_dir()) == ["main", "step-0000006", "step-0000012"]
    meta = read_metadata(export / "step-0000012")
    assert meta.arm == "spp_t0" and meta.block_format["marker"] == "<|reflection|>"
    assert (export / "main" / "model.safetensors").is_file()
    assert read_metadata(out).kind == "model"
    history = json.loads((out / "checkpoint-12" / "trainer_state.json").read_text())["log_history"]
    logged = [h for h in history if "loss" in h]
    assert [h["tokens_seen"] for h in logged] == [2048 * k for k in range(1, 7)]
    assert all(h["heldout_reflection_tokens"] > 0 and h["mfu"] >= 0 for h in logged)
    assert logged[-1]["heldout_reflection_loss"] < logged[0]["heldout_reflection_loss"]


def test_cli_trains_spp_t0_mt_and_records_its_data_view_in_spp_json_and_the_card(corpus_dir, tmp_path):
    """The tiny recipe as spp_t0_mt with the authors' compact plain windows and no loss on harmful context: the new
    data-view fields are in the hash, in spp.json (with the enriched stream's repeats) and in the model card."""
    from spp.hub.cards import render_model_card

    out = tmp_path / "out"
    args = ["pretrain", "--config", str(REPO / "recipes/pretrain/tiny.yaml"), "--dataset_path", str(corpus_dir)]
    args += ["--tokenizer_name_or_path", str(corpus_dir / "tokenizer"), "--output_dir", str(out)]
    args += ["--checkpoint_export_dir", str(tmp_path / "export"), "--disable_tqdm", "true", "--save_steps", "12"]
    args += ["--arm", "spp_t0_mt", "--midtraining_annotated_share", "0.6", "--midtraining_max_repeats", "1"]
    args += ["--plain_fill", "full", "--loss_on", "no_harmful_context", "--token_cache_dir", str(tmp_path / "tok")]
    assert spp_main(args) == 0
    meta = read_metadata(out)
    view = meta.details["data_view"]
    assert meta.arm == "spp_t0_mt" and view["plain_fill"] == "full" and view["loss_on"] == "no_harmful_context"
    assert view["midtraining_annotated_share"] == 0.6 and view["midtraining_max_repeats"] == 1
    mid = meta.details["packing"]["audit"]["midtraining"]
    assert mid["share"] == 0.6 and mid["documents"] > 0 and mid["max_occurrences"] <= 2
    assert list((tmp_path / "tok" / "windows").glob("*/index.json"))  # the index beside the token cache
    card = str(render_model_card(meta))
    assert "| windows without an annotated document (plain fill) | full |" in card
    assert "| tokens with next-token loss (loss on) | no_harmful_context |" in card
    assert f"enriched: 0.6 of documents annotated, at most 1 repeats per document ({mid['repeats']} repeats" in card


def test_cli_bad_recipe_value_is_one_paragraph_and_exit_2(corpus_dir, capsys):
    code = spp_main(["pretrain", "--config", str(REPO / "recipes/pretrain/tiny.yaml"), "--arm", "spp_t9"])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown arm 'spp_t9'" in err and "spp_t0_end" in err


@pytest.mark.parametrize(
    ("override", "says"),
    [
        (["--plain_fill", "half"], "unknown plain_fill 'half'"),
        (["--loss_on", "documents"], "unknown loss_on 'documents'"),
        (["--arm", "spp_t0_mt"], "midtraining_annotated_share is not set"),
        (["--midtraining_annotated_share", "0.5"], "token_cache_dir"),
    ],
)
def test_cli_bad_data_view_is_one_paragraph_and_exit_2_before_the_model_is_built(
    corpus_dir, tmp_path, capsys, monkeypatch, override, says
):
    import spp.pretrain.builder as builder

    monkeypatch.setattr(builder, "build_model", lambda *a, **k: pytest.fail("the model was built"))
    args = ["pretrain", "--config", str(REPO / "recipes/pretrain/tiny.yaml"), "--dataset_path", str(corpus_dir)]
    args += ["--tokenizer_name_or_path", str(corpus_dir / "tokenizer"), "--output_dir", str(tmp_path / "out")]
    assert spp_main(args + override) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_queued_uploads_finish_when_training_dies(monkeypatch):
    """A crash mid-run must not lose checkpoint uploads that were already queued."""
    import types

    import transformers

    from spp.pretrain.trainer import SPPTrainer

    waited = []

    class Uploads:
        def wait(self):
            waited.append(True)

    def crash(self, *args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(transformers.Trainer, "train", crash)
    trainer = SPPTrainer.__new__(SPPTrainer)
    trainer.spp_metadata, trainer.train_dataset = None, None
    trainer.args = types.SimpleNamespace(should_save=True, output_dir="unused", ignore_data_skip=False)
    trainer.callback_handler = types.SimpleNamespace(callbacks=[Uploads(), object()])
    with pytest.raises(RuntimeError, match="out of memory"):
        trainer.train()
    assert waited == [True]
