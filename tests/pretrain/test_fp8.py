"""fp8: off by default, refused (exit 2, naming the field) where float8 cannot run, and when on, the decoder layers'
linear layers train in float8 (torchao's emulation on the CPU: the same module swap, high-precision matmuls)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from spp.cli import main as spp_main
from spp.cli import parse_config
from spp.errors import SppConfigError
from spp.pretrain import SPPDataArguments, SPPModelArguments, SPPTrainingArguments, build_model
from spp.pretrain import fp8 as fp8_module

RECIPES = Path(__file__).parents[2] / "recipes" / "pretrain"
CONFIGS = [SPPModelArguments, SPPDataArguments, SPPTrainingArguments]
needs_torchao = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("torchao") is None, reason="spp[fp8] (torchao) is not installed"
)


@pytest.mark.parametrize("recipe", sorted(p.name for p in RECIPES.glob("*.yaml")))
def test_every_pretrain_recipe_leaves_fp8_off(recipe):
    argv = ["--config", str(RECIPES / recipe), "--bf16", "false", "--use_cpu", "true"]
    _, _, args = parse_config(CONFIGS, argv, prog="spp pretrain")
    assert args.fp8 is False and args.fp8_recipe == "tensorwise"


def test_fp8_without_a_capable_gpu_exits_2_naming_the_field(tmp_path, capsys):
    argv = ["pretrain", "--config", str(RECIPES / "tiny.yaml"), "--output_dir", str(tmp_path / "out"), "--fp8", "true"]
    assert spp_main(argv) == 2
    err = capsys.readouterr().err
    assert "field 'fp8'" in err and "compute capability >= 8.9" in err and "this run is on cpu" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()  # refused before anything was written


def test_unknown_fp8_recipe_in_a_recipe_file_is_refused(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text((RECIPES / "tiny.yaml").read_text() + "fp8_recipe: blockwise\n")
    with pytest.raises(SppConfigError, match="fp8_recipe") as err:
        parse_config(CONFIGS, ["--config", str(recipe), "--output_dir", str(tmp_path / "o")], prog="spp pretrain")
    assert err.value.field == "fp8_recipe"


def test_fp8_capability_gate(monkeypatch):
    import importlib.util

    cuda = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA A100-SXM4-80GB")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    assert fp8_module.fp8_problem(cuda) == (
        "float8 training needs compute capability >= 8.9; NVIDIA A100-SXM4-80GB has 8.0"
    )
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    assert fp8_module.fp8_problem(cuda) is None  # an H100/H200 with torchao
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 9))
    assert fp8_module.fp8_problem(cuda) is None  # Ada (L40S, RTX 4090) has float8 tensor cores too
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchao" else real(name, *a))
    assert "torchao" in fp8_module.fp8_problem(cuda)


def _float8_linears(model) -> list[str]:
    from torchao.float8.float8_linear import Float8Linear

    return [name for name, module in model.named_modules() if isinstance(module, Float8Linear)]


@needs_torchao
def test_conversion_swaps_exactly_the_decoder_linears_and_quantizes(tokenizer):
    model = build_model("tiny", tokenizer, seed=0)
    reference = build_model("tiny", tokenizer, seed=0)
    assert fp8_module.convert_decoder_to_fp8(model, "tensorwise", emulate=True) == 7 * model.config.num_hidden_layers
    swapped = _float8_linears(model)
    assert all(name.startswith("model.layers.") for name in swapped) and len(swapped) == 14
    assert type(model.lm_head) is torch.nn.Linear and type(model.model.embed_tokens) is torch.nn.Embedding
    ids = torch.randint(0, len(tokenizer), (2, 32))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(input_ids=ids, labels=ids).loss
        expected = reference(input_ids=ids, labels=ids).loss
    # float8 rounding moves the loss a little, never much (the weights are the same)
    assert loss.item() != expected.item() and abs(loss.item() - expected.item()) < 0.02 * expected.item()
    loss.backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if n.startswith("model.layers.0.self_attn"))


@needs_torchao
def test_spp_trainer_converts_before_compiling_and_trains(tmp_path, make_arm, tokenizer, monkeypatch, caplog):
    """With fp8 on (the capability check and the kernel swapped for torchao's emulation, since no GPU is here),
    SPPTrainer converts the decoder layers before compiling them and training runs."""
    from spp.pretrain import SPPTrainer, make_view
    from spp.pretrain import trainer as trainer_module

    monkeypatch.setattr(fp8_module, "fp8_problem", lambda device: None)
    real = fp8_module.convert_decoder_to_fp8
    order: list[str] = []

    def emulated(model, recipe, **kw):
        order.append("fp8")
        return real(model, recipe, emulate=True)

    monkeypatch.setattr(trainer_module, "convert_decoder_to_fp8", emulated)
    monkeypatch.setattr(trainer_module, "compile_decoder_layers", lambda model: order.append("compile") or 2)
    args = SPPTrainingArguments(
        output_dir=str(tmp_path / "out"), use_cpu=True, fp8=True, compile_layers=True, max_steps=3,
        per_device_train_batch_size=2, learning_rate=1e-3, report_to="none", save_strategy="no", disable_tqdm=True,
    )  # fmt: skip
    model = build_model("tiny", tokenizer, seed=0)
    with caplog.at_level(logging.INFO, logger="spp.pretrain"):
        trainer = SPPTrainer(model=model, args=args, train_dataset=make_arm(make_view("spp_t0")))
        trainer.train()
    assert order == ["fp8", "compile"]
    assert len(_float8_linears(trainer.model)) == 14
    assert "float8 training (tensorwise recipe) on 14 linear layers of the decoder" in caplog.text
    assert torch.isfinite(torch.tensor(trainer.state.log_history[-1]["train_loss"]))
