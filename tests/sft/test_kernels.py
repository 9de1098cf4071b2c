"""SFT with the pretraining kernels: the kernel fields, the CPU fallback with its log line, and the varlen attention
path (spp_varlen) against conversations in separate rows."""

from __future__ import annotations

import logging

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from spp.errors import SppConfigError
from spp.sft import kernels
from spp.sft.identity import sft_hash
from spp.sft.train import load_base


def test_kernel_fields_default_off_are_checked_and_not_hashed(base_model, chat_file, make_config, tmp_path):
    config = make_config(tmp_path, base_model, chat_file)
    assert (config.liger, config.liger_kernels, config.compile_layers) == ("off", "fused_linear_cross_entropy", False)
    fast = make_config(tmp_path, base_model, chat_file, liger="auto", compile_layers=True)
    assert sft_hash(fast, "template") == sft_hash(config, "template")  # how fast, not what: one hash for every arm
    with pytest.raises(SppConfigError, match="liger") as err:
        make_config(tmp_path, base_model, chat_file, liger="always")
    assert err.value.field == "liger"
    with pytest.raises(SppConfigError, match="unknown Liger kernels") as err:
        make_config(tmp_path, base_model, chat_file, liger_kernels="flash")
    assert err.value.field == "liger_kernels"


def test_liger_falls_back_on_cpu_with_a_log_line_and_on_is_refused(base_model, chat_file, make_config, tmp_path, caplog):
    kernels._warned.clear()
    with caplog.at_level(logging.WARNING, logger="spp.sft"):
        assert kernels.configure_sft_kernels(make_config(tmp_path, base_model, chat_file, liger="auto")) == []
    assert "Liger kernels need CUDA; on cpu spp sft trains with TRL's own kernels and fused LM head" in caplog.text
    assert kernels.configure_sft_kernels(make_config(tmp_path, base_model, chat_file)) == []  # off: nothing said
    with pytest.raises(SppConfigError, match="need CUDA") as err:
        kernels.configure_sft_kernels(make_config(tmp_path, base_model, chat_file, liger="on"))
    assert err.value.field == "liger"


def test_sequence_starts_from_position_ids_rows_and_padding():
    cu, longest = kernels.sequence_starts(torch.tensor([[0, 1, 2, 0, 1, 0]]), 1, 6)
    assert cu.tolist() == [0, 3, 5, 6] and longest == 3 and cu.dtype == torch.int32
    # two rows of 4, right-padded: each row starts a sequence even where position_ids do not restart at 0
    positions = torch.tensor([[0, 1, 2, 3], [5, 6, 7, 8]])
    valid = torch.tensor([1, 1, 1, 0, 1, 1, 0, 0]).nonzero().flatten()
    cu, longest = kernels.sequence_starts(positions, 2, 4, valid)
    assert cu.tolist() == [0, 3, 5] and longest == 3


def _tiny_llama(**overrides) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=128, use_cache=False, **overrides,
    )  # fmt: skip
    return LlamaForCausalLM(config).eval()


def _examples():
    generator = torch.Generator().manual_seed(1)
    sequences = [torch.randint(1, 97, (n,), generator=generator).tolist() for n in (7, 12, 5, 9)]
    return [{"input_ids": s, "labels": [-100] * 2 + s[2:]} for s in sequences]  # prompt tokens masked, as SFT does


def _loss_and_grads(model, attn: str, batch: dict):
    model.set_attn_implementation(attn)
    model.zero_grad()
    inputs = {k: v for k, v in batch.items() if k != "seq_idx"}
    loss = model(**inputs).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("attn", ["spp_varlen", "sdpa"])
def test_padding_free_packed_batch_has_the_loss_and_gradients_of_padded_rows(attn):
    """TRL's padding-free collator flattens the conversations into one row; the attention must keep them apart.
    Reference: the same conversations as separate, padded rows through plain sdpa."""
    model = _tiny_llama()
    examples = _examples()
    packed = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(examples)
    padded = DataCollatorForLanguageModeling(pad_token_id=0)(examples)
    assert packed["input_ids"].shape[0] == 1 and "attention_mask" not in packed
    expected, expected_grads = _loss_and_grads(model, "sdpa", padded)
    loss, grads = _loss_and_grads(model, attn, packed)
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], atol=1e-5, rtol=1e-4, msg=name)
    # the check can fail: one causal sequence over the flattened row (no boundaries) has another loss
    leaky = {k: v for k, v in packed.items() if not k.startswith(("cu_seq", "max_length", "seq_idx"))}
    leaky["position_ids"] = torch.arange(packed["input_ids"].shape[1])[None]
    leaked, _ = _loss_and_grads(model, attn, leaky)
    assert abs(leaked.item() - expected.item()) > 1e-3


def test_varlen_path_reads_boundaries_from_position_ids_and_skips_padding():
    """Without the collator's cu_seq_lens (any other caller), and on padded rows (packing off)."""
    model = _tiny_llama()
    examples = _examples()
    packed = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(examples)
    padded = DataCollatorForLanguageModeling(pad_token_id=0)(examples)
    expected, _ = _loss_and_grads(model, "sdpa", padded)
    bare = {k: packed[k] for k in ("input_ids", "labels", "position_ids")}
    torch.testing.assert_close(_loss_and_grads(model, "spp_varlen", bare)[0], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(_loss_and_grads(model, "spp_varlen", padded)[0], expected, atol=1e-5, rtol=1e-5)
    # left padding and no position_ids (the model counts 0, 1, ... from the pads on, so no sequence restarts at the
    # first real token): only the padding mask keeps the pads out (RoPE is relative: the shifted positions do not
    # change the attention)
    left = DataCollatorForLanguageModeling(pad_token_id=0)(examples)
    for key in ("input_ids", "labels", "attention_mask"):
        left[key] = torch.stack([torch.cat([row[m == 0], row[m == 1]]) for row, m in zip(left[key], padded["attention_mask"], strict=True)])
    torch.testing.assert_close(_loss_and_grads(model, "spp_varlen", left)[0], expected, atol=1e-5, rtol=1e-5)


def test_sft_trainer_with_kernels_trains_through_varlen_attention(base_model, chat_file, make_config, tmp_path, caplog):
    """The whole spp sft path (load_base, BFD padding-free packing, SPPSFTTrainer) with attn spp_varlen and liger
    auto on the CPU: it falls back with its log lines, and the first step's loss is sdpa's on the same batch."""
    from spp.sft.data import stage_datasets

    losses = {}
    kernels._warned.clear()
    for attn in ("sdpa", "spp_varlen"):
        config = make_config(
            tmp_path / attn, base_model, chat_file, packing=True, per_device_train_batch_size=3, max_steps=1,
            liger="auto", model_init_kwargs={"attn_implementation": attn}, learning_rate=0.0,
        )  # fmt: skip
        model, tok, _, _ = load_base(config)
        assert model.config._attn_implementation == attn
        with caplog.at_level(logging.WARNING, logger="spp.sft"):
            trainer = kernels.sft_trainer_class()(
                model=model, args=config, train_dataset=stage_datasets(config)[0], processing_class=tok
            )
            trainer.train()
        assert trainer.liger_kernels == [] and not trainer.args.use_liger_kernel
        losses[attn] = trainer.state.log_history[0]["loss"]
    assert "Liger kernels need CUDA" in caplog.text and "spp_varlen attention on cpu" in caplog.text
    assert losses["spp_varlen"] == pytest.approx(losses["sdpa"], rel=1e-5)


def test_fused_loss_path_is_trainers_loss_over_the_accumulated_tokens(base_model, chat_file, make_config, tmp_path):
    """With Liger's fused loss, SPPSFTTrainer takes the model's own loss through transformers.Trainer.compute_loss (as
    SPPTrainer does), normalised by the tokens of the whole accumulated batch. Liger cannot run here, so the model's
    plain loss stands in for it: the routing and the normalisation must give TRL's loss on the same packed batch."""
    from spp.sft.data import stage_datasets

    config = make_config(tmp_path, base_model, chat_file, packing=True, per_device_train_batch_size=3)
    model, tok, _, _ = load_base(config)
    trainer = kernels.sft_trainer_class()(
        model=model, args=config, train_dataset=stage_datasets(config)[0], processing_class=tok
    )
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    items = (batch["labels"][:, 1:] != -100).sum() * 2  # as if this micro-batch were half of the accumulated tokens
    model.eval()
    with torch.no_grad():
        trl_loss = trainer.compute_loss(model, dict(batch), num_items_in_batch=items)
        trainer.liger_kernels = ["fused_linear_cross_entropy"]
        fused_path = trainer.compute_loss(model, dict(batch), num_items_in_batch=items)
    torch.testing.assert_close(fused_path, trl_loss, atol=1e-5, rtol=1e-5)
    assert 0 < fused_path.item() < 10  # half of the per-token loss of a random tiny model (~ln(vocab) / 2)


def test_compile_layers_compiles_each_decoder_layer(base_model, chat_file, make_config, tmp_path):
    from spp.sft.data import stage_datasets

    config = make_config(tmp_path, base_model, chat_file, compile_layers=True)
    model, tok, _, _ = load_base(config)
    trainer = kernels.sft_trainer_class()(
        model=model, args=config, train_dataset=stage_datasets(config)[0], processing_class=tok
    )
    layers = trainer.model.model.layers
    assert all(layer._compiled_call_impl is not None for layer in layers)
    assert trainer.model.lm_head._compiled_call_impl is None  # the loss stays eager (Liger's fused loss)
