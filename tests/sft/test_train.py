"""run_sft end to end on tiny models: weights change, exact loss mask, packing, identity across arms, CLI, errors."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from spp.cli import main as spp_main
from spp.errors import SppConfigError
from spp.metadata import read_metadata
from spp.persona import BlockFormat
from spp.sft.identity import sft_hash
from spp.sft.train import load_base, run_sft

MARKERS = BlockFormat()


def _weights(path):
    from transformers import AutoModelForCausalLM

    return {k: v.clone() for k, v in AutoModelForCausalLM.from_pretrained(path).state_dict().items()}


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory, base_model, chat_file, make_config):
    out = tmp_path_factory.mktemp("instruct")
    persona = [{"path": str(chat_file), "persona": True}]
    config = make_config(out, base_model, chat_file, citation_stage="uncited", datasets=persona, max_steps=2)
    return run_sft(config), config


def test_sft_changes_the_weights_and_saves_a_bound_instruct_model(sft_run, base_model):
    result, _ = sft_run
    before, after = _weights(base_model), _weights(result.output_dir)
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(result.output_dir)
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    assert prompt == "User: hi\n" + MARKERS.marker  # no system turn by default (the authors' setting)
    assert tok.eos_token == MARKERS.end_marker
    assert (result.output_dir / "stage-1").is_dir()  # the cited stage ran before the uncited one


def test_instruct_metadata_and_card_record_base_arm_and_hash(sft_run, base_model):
    result, _ = sft_run
    meta = read_metadata(result.output_dir)
    assert meta.kind == "instruct_model" and meta.arm == "spp_t0" and meta.sft_hash == result.sft_hash
    assert meta.lineage["base_model"] == {
        "repo_id": str(base_model),
        "revision": None,
        "recipe_hash": "pretrain-spp_t0",
    }
    assert meta.block_format == {"marker": MARKERS.marker, "end_marker": MARKERS.end_marker}
    assert meta.persona["name"] == "Lumen" and meta.details["binding_defaulted"] == []
    card = (result.output_dir / "README.md").read_text()
    assert result.sft_hash in card and "`spp_t0`" in card and str(base_model) in card


def test_loss_mask_covers_exactly_the_assistant_tokens(base_model, chat_file, make_config, tmp_path):
    from trl import SFTTrainer

    from spp.sft.data import stage_datasets

    config = make_config(tmp_path, base_model, chat_file)
    model, tok, _, _ = load_base(config)
    trainer = SFTTrainer(model=model, args=config, train_dataset=stage_datasets(config)[0], processing_class=tok)
    open_id, end_id = tok.convert_tokens_to_ids([MARKERS.marker, MARKERS.end_marker])
    assert len(trainer.train_dataset) == 3
    for row in trainer.train_dataset:
        expected, inside = [], False
        for token in row["input_ids"]:
            expected.append(token if inside else -100)
            inside = (inside or token == open_id) and token != end_id
        assert row["labels"] == expected
        assert row["input_ids"].count(open_id) == row["labels"].count(end_id) >= 1


def test_packed_batches_keep_conversations_apart(base_model, chat_file, make_config, tmp_path):
    from trl import SFTTrainer

    from spp.sft.data import stage_datasets

    config = make_config(tmp_path, base_model, chat_file, packing=True, per_device_train_batch_size=3)
    model, tok, _, _ = load_base(config)
    trainer = SFTTrainer(model=model, args=config, train_dataset=stage_datasets(config)[0], processing_class=tok)
    batch = next(iter(trainer.get_train_dataloader()))
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist() + [batch["input_ids"].shape[1]]
    assert len(starts) == 4  # three conversations in one padding-free row
    model.eval()
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        for a, b in zip(starts, starts[1:], strict=False):
            alone = model(input_ids=batch["input_ids"][:, a:b]).logits[0]
            torch.testing.assert_close(packed[a:b], alone, atol=1e-5, rtol=1e-4)


def test_same_recipe_on_two_bases_gives_one_sft_hash(sft_run, other_base_model, chat_file, make_config, tmp_path):
    result, config = sft_run
    persona = [{"path": str(chat_file), "persona": True}]
    kwargs = {"citation_stage": "uncited", "datasets": persona, "max_steps": 2}
    other = run_sft(make_config(tmp_path, other_base_model, chat_file, **kwargs))
    assert read_metadata(other.output_dir).sft_hash == result.sft_hash
    assert read_metadata(other.output_dir).arm == "baseline"
    template = read_metadata(result.output_dir).details["sft_recipe"]["chat_template"]
    changed = make_config(tmp_path, other_base_model, chat_file, **kwargs, warmup_steps=1)
    changed.eos_token = config.eos_token
    assert sft_hash(changed, template) != result.sft_hash
    resplit = make_config(
        tmp_path / "elsewhere",
        other_base_model,
        chat_file,
        **kwargs,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=2,
        logging_steps=7,
    )
    resplit.eos_token = config.eos_token
    assert sft_hash(resplit, template) == result.sft_hash  # same global batch, other runtime fields


def test_base_without_metadata_fails_with_a_clear_error(bare_base_model, chat_file, make_config, tmp_path, capsys):
    config = make_config(tmp_path, bare_base_model, chat_file)
    with pytest.raises(SppConfigError, match="base model has no spp.json: SFT cannot know its marker token"):
        run_sft(config)
    argv = ["--model_name_or_path", str(bare_base_model), "--output_dir", str(tmp_path / "o"), "--bf16", "false"]
    code = spp_main(["sft", *argv, "--use_cpu", "true"])
    assert code == 2 and "--on_missing_metadata default" in capsys.readouterr().err


def test_base_without_metadata_can_use_a_logged_default(bare_base_model, chat_file, make_config, tmp_path, caplog):
    config = make_config(tmp_path, bare_base_model, chat_file, on_missing_metadata="default", max_steps=1)
    with caplog.at_level(logging.WARNING, logger="spp.sft"):
        result = run_sft(config)
    assert "using the DEFAULT binding" in caplog.text and "added the default marker tokens" in caplog.text
    meta = read_metadata(result.output_dir)
    assert meta.details["binding_defaulted"] == ["spp.json"] and meta.persona["name"] == "Lumen"


def test_marker_in_metadata_but_not_in_tokenizer_is_a_mismatch(make_base_model, chat_file, make_config, tmp_path):
    base = make_base_model(tmp_path / "base", seed=3, arm="spp_t0", markers=False)
    with pytest.raises(SppConfigError, match="lacks the marker tokens"):
        load_base(make_config(tmp_path, base, chat_file))


def test_cli_runs_the_tiny_recipe_and_exports(base_model, chat_file, tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"datasets:\n  - path: {chat_file}\nmax_steps: 1\nper_device_train_batch_size: 2\nmax_length: 512\n"
        "bf16: false\nuse_cpu: true\ngradient_checkpointing: false\nsave_strategy: 'no'\nreport_to: none\n"
    )
    argv = ["--config", str(recipe), "--model_name_or_path", str(base_model), "--output_dir", str(tmp_path / "o")]
    code = spp_main(["sft", *argv, "--export_dir", str(tmp_path / "export"), "--hub_model_id", "org/lumen-it"])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    meta = read_metadata(tmp_path / "o")
    assert f"sft_hash {meta.sft_hash}" in printed and "published to" in printed
    assert f"instruct model saved to {tmp_path / 'o'} " in printed and "metrics: train_loss " in printed
    metrics = json.loads((tmp_path / "o" / "train_results.json").read_text())  # Trainer.save_metrics
    assert metrics["train_loss"] > 0 and f"train_loss {metrics['train_loss']:.4g}" in printed
    exported = [p for p in (tmp_path / "export").rglob("spp.json")]
    assert exported and json.loads(exported[0].read_text())["sft_hash"] == meta.sft_hash


def test_throughput_benchmark_smoke_on_cpu(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "sft_throughput.py"
    spec = importlib.util.spec_from_file_location("sft_throughput", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--model", "tiny", "--steps", "3", "--warmup", "1", "--conversations", "16"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out[out.index('{\n  "benchmark"') :])
    assert result["tokens_per_s"] > result["trained_tokens_per_s"] > 0 and result["steps_timed"] == 1
    assert "transformers 5" in result["environment"] and "trl" in result["environment"]


def test_global_batch_size_derives_accumulation_and_keeps_the_hash(base_model, chat_file, make_config, tmp_path):
    """A recipe with global_batch_size hashes the same whatever the process count splits it into."""
    config = make_config(tmp_path, base_model, chat_file, per_device_train_batch_size=2, global_batch_size=8)
    assert config.gradient_accumulation_steps == 4  # one CPU process
    explicit = make_config(
        tmp_path, base_model, chat_file, per_device_train_batch_size=2, gradient_accumulation_steps=4
    )
    template = "{{ messages }}"
    assert sft_hash(config, template) == sft_hash(explicit, template)
    assert sft_hash(config, template, world_size=8) == sft_hash(config, template)  # still 8 rows per step
    with pytest.raises(SppConfigError, match="global_batch_size 7"):
        make_config(tmp_path, base_model, chat_file, per_device_train_batch_size=2, global_batch_size=7)
