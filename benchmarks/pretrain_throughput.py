"""Pretraining throughput and Liger correctness on real packed spp batches: plain HF Trainer vs SPPTrainer.

    python benchmarks/pretrain_throughput.py                          # H100: 1.7B spec, seq 2048, bf16 (~1 min on an H100)
    python benchmarks/pretrain_throughput.py --device cpu --model tiny --steps 3   # CPU smoke test

In one process, in this order (Liger patches transformers globally, so everything unpatched runs first):
1. A/B reference: SPPTrainer with plain kernels, ``--ab-steps`` steps from seed 0 (CUDA only);
2. plain ``transformers.Trainer``: eager, bf16 autocast, fused AdamW, ``--plain-micro-batch``;
3. ``SPPTrainer``: Liger ``--liger-kernels`` + each decoder layer compiled, ``--spp-micro-batch``, its own dataloader;
4. A/B Liger: the same ``--ab-steps`` steps with every Liger kernel; losses must agree within ``--ab-tolerance``.
Throughput is the median step time after ``--warmup`` steps (CUDA synchronised at each step end); MFU is against
``--peak-tflops`` (989 for H100 SXM bf16 dense) with FLOPs/token = 6N + 12*L*h*S. The data is a synthetic augmented
corpus packed by spp (1920 content + 128 reflection budget tokens per 2049-token window at seq 2048) with a BPE
tokenizer trained on it, because the GPU machine has no Hub access; the model keeps the spec's 49152-token vocab.
Prints one JSON object (also written to ``--out``) with the card, versions and every number.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from spp.pretrain import SPPTrainer, SPPTrainingArguments, build_model, get_model_spec, load_corpus, make_view
from spp.pretrain.callbacks import flops_per_token
from spp.pretrain.data import DocumentStream, PackedArm, collate_windows, split_and_order, window_item
from spp.pretrain.demo import write_demo_corpus
from spp.pretrain.packing import tokenize_batch
from spp.pretrain.tokenizer import load_tokenizer, marker_ids

log = logging.getLogger("pretrain_throughput")
ALL_LIGER = "rope,rms_norm,swiglu,fused_linear_cross_entropy"


class StepTimer(TrainerCallback):
    """Wall time of every optimizer step (synchronising CUDA so the time is the GPU's)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._last = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._last = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self._last)


class RecordingSPPTrainer(SPPTrainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        self.losses.append(loss.item())
        return loss


def environment(device: str) -> dict:
    def v(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    env = {
        "python": platform.python_version(),
        **{p: v(p) for p in ("torch", "transformers", "accelerate", "liger-kernel", "triton", "spp")},
        "device": device,
    }
    if device == "cuda":
        env |= {"card": torch.cuda.get_device_name(), "cuda": torch.version.cuda, "gpus": torch.cuda.device_count()}
    return env


def make_data(workdir: Path, args):
    corpus_dir = write_demo_corpus(
        workdir / "corpus", rows=args.rows, seed=0, vocab_size=4096, reflection_rate=0.2, min_words=150, max_words=900
    )
    corpus, block_format = load_corpus(corpus_dir)
    tokenizer = load_tokenizer(str(corpus_dir / "tokenizer"), block_format, "<|endoftext|>")
    tokenize = lambda batch: tokenize_batch(batch, tokenizer, "1p", marker_ids(tokenizer, block_format))  # noqa: E731
    train, _ = split_and_order(corpus, 0, seed=0, shuffle=False)
    arm = PackedArm(
        DocumentStream(train, tokenize),
        make_view("spp_t0"),
        seq_len=args.seq_len,
        reflection_budget=args.reflection_budget,
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id,
    )
    return tokenizer, arm


def new_model(args, tokenizer):
    with torch.device(args.device):
        return build_model(args.model, tokenizer, seed=0, pad_vocab_to_multiple_of=64, attn_implementation="sdpa")


def training_kwargs(args, out: Path, micro_batch: int, steps: int) -> dict:
    cuda = args.device == "cuda"
    return dict(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=micro_batch,
        learning_rate=5e-4,
        weight_decay=0.01,
        adam_beta1=0.9,
        adam_beta2=0.95,
        max_grad_norm=1.0,
        warmup_steps=2,
        bf16=cuda,
        optim="adamw_torch_fused" if cuda else "adamw_torch",
        save_strategy="no",
        logging_steps=max(steps, 1),
        report_to="none",
        use_cpu=not cuda,
        disable_tqdm=True,
        remove_unused_columns=False,
        seed=0,
    )


def summarise(timer: StepTimer, args, micro_batch: int, fpt: float) -> dict:
    times = timer.times[args.warmup :] or timer.times
    step = statistics.median(times)
    rate = micro_batch * args.seq_len / step
    out = {
        "micro_batch": micro_batch,
        "steps_timed": len(times),
        "median_step_s": round(step, 4),
        "tokens_per_s_per_gpu": round(rate, 1),
        "mfu": round(rate * fpt / (args.peak_tflops * 1e12), 4),
    }
    if args.device == "cuda":
        out["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return out


def reset_memory(args) -> None:
    gc.collect()
    if args.device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def run_plain(args, tokenizer, arm, workdir, fpt) -> dict:
    reset_memory(args)
    items = [window_item(w) for _, w in zip(range(args.plain_micro_batch * args.steps), arm.windows(), strict=False)]
    timer = StepTimer()
    trainer = Trainer(
        model=new_model(args, tokenizer),
        args=TrainingArguments(**training_kwargs(args, workdir / "plain", args.plain_micro_batch, args.steps)),
        train_dataset=items,
        data_collator=collate_windows,
        callbacks=[timer],
    )
    trainer.train()
    result = summarise(timer, args, args.plain_micro_batch, fpt) | {"setup": "transformers.Trainer, eager"}
    del trainer
    return result


def run_spp(args, tokenizer, arm, workdir, fpt) -> dict:
    reset_memory(args)
    timer = StepTimer()
    kwargs = training_kwargs(args, workdir / "spp", args.spp_micro_batch, args.steps)
    spp_args = SPPTrainingArguments(
        **kwargs,
        liger="auto",
        liger_kernels=args.liger_kernels,
        compile_layers=args.compile_layers,
        peak_tflops=args.peak_tflops,
        dataloader_num_workers=2 if args.device == "cuda" else 0,
    )
    trainer = SPPTrainer(model=new_model(args, tokenizer), args=spp_args, train_dataset=arm, callbacks=[timer])
    trainer.train()
    setup = f"SPPTrainer, kernels={trainer.kernels} ({args.liger_kernels}), compile_layers={args.compile_layers}"
    result = summarise(timer, args, args.spp_micro_batch, fpt) | {"setup": setup}
    del trainer
    return result


def run_ab(args, tokenizer, arm, workdir, liger: str) -> list[float]:
    reset_memory(args)
    kwargs = training_kwargs(args, workdir / f"ab-{liger}", args.ab_micro_batch, args.ab_steps)
    spp_args = SPPTrainingArguments(**kwargs, liger=liger, liger_kernels=ALL_LIGER)
    trainer = RecordingSPPTrainer(model=new_model(args, tokenizer), args=spp_args, train_dataset=arm)
    trainer.losses = []
    trainer.train()
    losses = trainer.losses
    del trainer
    return losses


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--model", default="smollm2-1.7b")
    p.add_argument("--seq-len", type=int, default=2048)
    p.add_argument("--reflection-budget", type=int, default=128)
    p.add_argument("--steps", type=int, default=20, help="optimizer steps per throughput run")
    p.add_argument("--warmup", type=int, default=5, help="steps excluded from the median (compilation, warm-up)")
    p.add_argument("--plain-micro-batch", type=int, default=4, help="PERF_NOTES: eager Trainer OOMs at 8 on H100")
    p.add_argument("--spp-micro-batch", type=int, default=8)
    p.add_argument("--liger-kernels", default="fused_linear_cross_entropy")
    p.add_argument("--compile-layers", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--ab-steps", type=int, default=30)
    p.add_argument("--ab-micro-batch", type=int, default=2)
    p.add_argument("--ab-tolerance", type=float, default=0.02, help="max |loss difference| per step (bf16 noise)")
    p.add_argument("--peak-tflops", type=float, default=989.0)
    p.add_argument("--rows", type=int, default=1200, help="synthetic corpus documents")
    p.add_argument("--out", default="pretrain_throughput.json")
    args = p.parse_args(argv)
    if args.compile_layers is None:
        args.compile_layers = args.device == "cuda"
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but CUDA is not available (use --device cpu --model tiny for the smoke test)")
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse(argv)
    results: dict = {"environment": environment(args.device), "config": vars(args)}
    out = Path(args.out)
    failed: list[str] = []

    def save() -> None:
        out.write_text(json.dumps(results, indent=2) + "\n")

    def phase(name: str, fn):
        """Run one phase; its result (or its error, by name) is written to ``--out`` at once."""
        start = time.perf_counter()
        log.info("phase %s: start", name)
        try:
            value = fn()
        except Exception as exc:  # recorded, the run goes on, and the exit status says it failed
            log.exception("phase %s failed", name)
            failed.append(name)
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            value = None
        else:
            # dict results are reported under their name; the A/B phases' loss lists go under liger_ab below
            if isinstance(value, dict):
                results[name] = value | {"phase_seconds": round(time.perf_counter() - start, 1)}
        log.info("phase %s: %.1f s", name, time.perf_counter() - start)
        save()
        return value

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        tokenizer, arm = make_data(workdir, args)
        spec = get_model_spec(args.model)
        probe = new_model(args, tokenizer)
        n = sum(p.numel() for p in {id(p): p for p in probe.parameters()}.values())
        fpt = flops_per_token(n, spec.num_hidden_layers, spec.hidden_size, args.seq_len)
        results["model"] = {
            "spec": args.model,
            "parameters": n,
            "vocab": probe.config.vocab_size,
            "flops_per_token": fpt,
        }
        del probe
        save()
        run_ab_test = args.device == "cuda" and args.ab_steps > 0
        reference = (
            phase("liger_ab_reference", lambda: run_ab(args, tokenizer, arm, workdir, "off")) if run_ab_test else None
        )
        phase("plain_trainer", lambda: run_plain(args, tokenizer, arm, workdir, fpt))
        phase("spp_trainer", lambda: run_spp(args, tokenizer, arm, workdir, fpt))
        if "error" not in results["plain_trainer"] and "error" not in results["spp_trainer"]:
            results["speedup"] = round(
                results["spp_trainer"]["tokens_per_s_per_gpu"] / results["plain_trainer"]["tokens_per_s_per_gpu"], 3
            )
        if run_ab_test:
            liger = phase("liger_ab_liger", lambda: run_ab(args, tokenizer, arm, workdir, "on"))
            if reference is not None and liger is not None:
                diffs = [abs(a - b) for a, b in zip(reference, liger, strict=True)]
                passed = max(diffs) <= args.ab_tolerance
                if not passed:
                    failed.append("liger_ab")
                results["liger_ab"] = {
                    "steps": args.ab_steps,
                    "kernels": ALL_LIGER,
                    "tolerance": args.ab_tolerance,
                    "max_abs_loss_diff": round(max(diffs), 6),
                    "losses_plain": [round(x, 5) for x in reference],
                    "losses_liger": [round(x, 5) for x in liger],
                    "passed": passed,
                }
        else:
            results["liger_ab"] = "skipped: needs CUDA"
    results["failed_phases"] = failed
    save()
    print(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
