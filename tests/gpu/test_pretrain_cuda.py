"""SPPTrainer on CUDA: Liger kernels are applied and a tiny model trains (skipped without CUDA)."""

from __future__ import annotations

import math

import pytest
import torch

from spp.demo.corpus import write_demo_corpus
from spp.pretrain import SPPTrainer, SPPTrainingArguments, build_model, load_corpus, load_tokenizer, make_view
from spp.pretrain.data import DocumentStream, PackedArm, split_and_order
from spp.pretrain.packing import tokenize_batch
from spp.pretrain.tokenizer import marker_ids

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


class Recorder(SPPTrainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        self.losses.append(loss.item())
        return loss


def tiny_trainer(tmp_path, **extra):
    corpus_dir = write_demo_corpus(tmp_path / "corpus", rows=120)
    corpus, fmt = load_corpus(corpus_dir)
    tokenizer = load_tokenizer(str(corpus_dir / "tokenizer"), fmt, "<|endoftext|>")
    train, _ = split_and_order(corpus, 0, 0, False)
    tokenize = lambda b: tokenize_batch(b, tokenizer, "1p", marker_ids(tokenizer, fmt))  # noqa: E731
    arm = PackedArm(DocumentStream(train, tokenize), make_view("spp_t0"), seq_len=128, reflection_budget=32,
                    eos_id=tokenizer.eos_token_id, pad_id=tokenizer.pad_token_id)  # fmt: skip
    args = SPPTrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=5, per_device_train_batch_size=4, learning_rate=1e-3,
        bf16=True, report_to="none", save_strategy="no", disable_tqdm=True, **extra,
    )  # fmt: skip
    trainer = Recorder(model=build_model("tiny", tokenizer, pad_vocab_to_multiple_of=64), args=args, train_dataset=arm)
    trainer.losses = []
    return trainer


def runs_liger(module) -> bool:
    """Whether ``module.forward`` is Liger's (accelerate keeps the original under ``_original_forward`` when it wraps
    forward for mixed precision)."""
    forward = getattr(module, "_original_forward", module.forward)
    return getattr(forward, "__func__", forward).__module__.startswith("liger_kernel")


def test_liger_kernels_are_applied_and_training_runs(tmp_path):
    trainer = tiny_trainer(tmp_path, liger="on")
    assert trainer.kernels == "liger" and trainer.args.use_liger_kernel
    trainer.train()
    model = trainer.model
    assert runs_liger(model), "fused linear cross entropy not applied"
    assert runs_liger(model.model.norm) and runs_liger(model.model.layers[0].input_layernorm), "RMSNorm not Liger's"
    assert runs_liger(model.model.layers[0].mlp), "SwiGLU MLP not Liger's"
    assert len(trainer.losses) == 5 and all(math.isfinite(x) for x in trainer.losses)
    assert trainer.losses[-1] < trainer.losses[0]


def test_compiled_layers_with_fused_cross_entropy_train(tmp_path):
    trainer = tiny_trainer(tmp_path, liger="on", liger_kernels="fused_linear_cross_entropy", compile_layers=True)
    trainer.train()
    assert len(trainer.losses) == 5 and all(math.isfinite(x) for x in trainer.losses)


def _float8_capable() -> bool:
    import importlib.util

    return (
        torch.cuda.is_available()
        and torch.cuda.get_device_capability() >= (8, 9)
        and importlib.util.find_spec("torchao") is not None
    )


@pytest.mark.skipif(not _float8_capable(), reason="float8 needs compute capability >= 8.9 and torchao")
def test_fp8_on_compiled_layers_with_fused_cross_entropy_trains(tmp_path):
    from torchao.float8.float8_linear import Float8Linear

    trainer = tiny_trainer(
        tmp_path, liger="on", liger_kernels="fused_linear_cross_entropy", compile_layers=True, fp8=True
    )
    swapped = [m for m in trainer.model.modules() if isinstance(m, Float8Linear)]
    assert len(swapped) == 7 * trainer.model.config.num_hidden_layers
    trainer.train()
    assert len(trainer.losses) == 5 and all(math.isfinite(x) for x in trainer.losses)
    assert trainer.losses[-1] < trainer.losses[0]
