"""Specs, schedule, kernels choice and the recipes: what a user configures is what runs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from spp.cli import parse_config
from spp.errors import SppConfigError
from spp.pretrain import (
    SPPDataArguments,
    SPPModelArguments,
    SPPTrainingArguments,
    build_model,
    get_model_spec,
    make_view,
    midtraining_start_tokens,
)
from spp.pretrain.schedule import InjectionSchedule
from spp.pretrain.trainer import configure_kernels, resolve_global_batch

RECIPES = Path(__file__).parents[2] / "recipes" / "pretrain"
CONFIGS = [SPPModelArguments, SPPDataArguments, SPPTrainingArguments]


def test_smollm2_1_7b_spec_is_the_published_shape():
    spec = get_model_spec("smollm2-1.7b")
    kwargs = spec.config_kwargs()
    assert kwargs == {
        "hidden_size": 2048,
        "num_hidden_layers": 24,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "intermediate_size": 8192,
        "vocab_size": 49152,
        "tie_word_embeddings": True,
        "rope_theta": 130000.0,
        "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-5,
        "initializer_range": 0.02,
    }
    assert spec.num_parameters() == 1_711_376_384
    assert get_model_spec("smollm2-360m").num_parameters() == 361_821_120
    assert get_model_spec("smollm2-135m").num_parameters() == 134_515_008


def test_tiny_model_covers_the_markers_and_is_seeded(tokenizer):
    a, b = build_model("tiny", tokenizer, seed=1), build_model("tiny", tokenizer, seed=1)
    assert a.config.vocab_size >= len(tokenizer) and a.config.tie_word_embeddings
    assert a.get_input_embeddings().weight.equal(b.get_input_embeddings().weight)
    assert tokenizer.convert_tokens_to_ids("<|reflection|>") < a.config.vocab_size
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.eos_token_id == 0


def test_unknown_spec_names_the_known_ones():
    with pytest.raises(SppConfigError, match="smollm2-135m"):
        get_model_spec("llama-70b")


def test_schedule_ramp_and_phases():
    s = InjectionSchedule(pretraining=True, start_tokens=100, ramp_tokens=100, midtraining_start_tokens=1000)
    assert [s.active_fraction(t) for t in (0, 99, 100, 150, 200, 999, 1000)] == [0, 0, 0, 0.5, 1, 1, 0]
    ids = [f"d{i}" for i in range(2000)]
    on = sum(s.reflects(i, 150) for i in ids)
    assert 900 < on < 1100 and on == sum(s.reflects(i, 150) for i in ids)
    assert {i for i in ids if s.reflects(i, 130)} <= {i for i in ids if s.reflects(i, 170)}
    mt = InjectionSchedule(midtraining=True, midtraining_start_tokens=1000)
    assert (mt.active_fraction(999), mt.active_fraction(1000)) == (0, 1)


def test_midtraining_arm_without_a_midtraining_start_is_a_config_error():
    with pytest.raises(SppConfigError, match="midtraining"):
        make_view("spp_mt")


def test_kernels_fall_back_to_plain_on_cpu_with_a_log_line(tmp_path, caplog):
    args = SPPTrainingArguments(output_dir=str(tmp_path), use_cpu=True, use_liger_kernel=True)
    with caplog.at_level(logging.WARNING, logger="spp.pretrain"):
        assert configure_kernels(args) == "plain"
    assert not args.use_liger_kernel
    assert "Liger kernels need CUDA; on cpu SPPTrainer trains with plain PyTorch kernels" in caplog.text
    with pytest.raises(SppConfigError, match="need CUDA"):
        configure_kernels(SPPTrainingArguments(output_dir=str(tmp_path), use_cpu=True, liger="on"))
    with pytest.raises(SppConfigError, match="unknown Liger kernels"):
        configure_kernels(SPPTrainingArguments(output_dir=str(tmp_path), use_cpu=True, liger_kernels="flash"))


@pytest.mark.parametrize("arm", ["baseline", "filtered", "spp_t0", "spp_mt", "spp_t0_end"])
def test_full_recipes_parse_and_mean_100b_tokens_at_2m_per_step(arm):
    argv = ["--config", str(RECIPES / "smollm2-1.7b.yaml"), "--arm", arm, "--bf16", "false", "--use_cpu", "true"]
    model, data, args = parse_config(CONFIGS, argv, prog="spp pretrain")  # the base recipe, as each arm runs it
    assert (model.model_spec, data.arm, data.seq_len, data.reflection_budget) == ("smollm2-1.7b", arm, 2048, 128)
    assert (args.learning_rate, args.weight_decay, args.adam_beta1, args.adam_beta2) == (5e-4, 0.01, 0.9, 0.95)
    assert (args.max_grad_norm, args.warmup_steps) == (1.0, 2000)
    tokens_per_step = resolve_global_batch(args) * data.seq_len
    assert tokens_per_step == 2_097_152
    assert 100e9 <= args.max_steps * tokens_per_step < 100.01e9
    assert args.lr_scheduler_kwargs["num_decay_steps"] == round(0.1 * args.max_steps)
    start = midtraining_start_tokens(data, args, tokens_per_step)
    assert start == (args.max_steps - 4768) * tokens_per_step
    view = make_view(arm, midtraining_start_tokens=start)
    assert view.schedule.pretraining == (arm in ("spp_t0", "spp_t0_end"))
    assert view.schedule.midtraining == (arm in ("spp_t0", "spp_mt", "spp_t0_end"))  # spp_t0: to the last token
    assert data.layout == "document" and view.arm.placement == ("end" if arm == "spp_t0_end" else "pause")


def test_spp_mt_from_baseline_is_the_base_recipe_continued_at_the_baselines_last_save_before_the_decay():
    """The overlay changes only what continuing needs; its midtraining starts where the from-scratch arm's does."""
    import dataclasses

    flags = ["--bf16", "false", "--use_cpu", "true"]
    overlay = parse_config(CONFIGS, ["--config", str(RECIPES / "spp_mt_from_baseline.yaml"), *flags], prog="p")
    scratch = parse_config(CONFIGS, ["--config", str(RECIPES / "smollm2-1.7b.yaml"), "--arm", "spp_mt", *flags], "p")
    differs = {
        f.name for a, b in zip(overlay, scratch, strict=True) for f in dataclasses.fields(a)
        if getattr(a, f.name) != getattr(b, f.name)
    }  # fmt: skip
    continuing = {"init_from", "init_revision", "init_step", "init_continue_stream", "midtraining_start_tokens"}
    assert differs == continuing | {"max_steps", "output_dir"}
    model, data, args = overlay
    assert data.arm == "spp_mt" and model.init_continue_stream and model.init_revision == f"step-{model.init_step:07d}"
    assert model.init_step % args.save_steps == 0  # a step the baseline saves (and exports)
    assert model.init_step + args.max_steps == scratch[2].max_steps  # the same schedule, entered at init_step
    tokens_per_step = resolve_global_batch(args) * data.seq_len
    assert data.midtraining_start_tokens == midtraining_start_tokens(scratch[1], scratch[2], tokens_per_step)
