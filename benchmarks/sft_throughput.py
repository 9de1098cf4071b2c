"""Throughput of ``spp sft`` (TRL ``SFTTrainer`` through spp's persona-bound path) on synthetic chat data.

    python benchmarks/sft_throughput.py                                   # GPU: 1.7B spec, seq 2048, bf16 (~2 min on an H100)
    python benchmarks/sft_throughput.py --kernels                         # the same with the pretraining kernels
    python benchmarks/sft_throughput.py --model tiny --steps 4 --warmup 1 # CPU smoke test (~20 s)

``--kernels`` is SFT with pretraining's kernels: Liger's fused linear cross-entropy (``liger: on``), each decoder layer
compiled (``compile_layers``) and ``attn_implementation: spp_varlen`` (PyTorch's Flash Attention varlen kernel over
the padding-free packed batch, so no attention is computed between packed conversations), without gradient
checkpointing; each part can also be set on its own (``--liger``, ``--compile-layers``, ``--attn-implementation``).

What runs is what ``spp sft`` runs: a base model folder with spp.json and marker tokens, ``load_base`` (binding +
chat template), ``stage_datasets``, ``SFTTrainer`` with assistant-only loss and BFD padding-free packing, bf16 on CUDA.
The base is a randomly initialised model of the spec (``spp.pretrain.specs``; the 1.7B keeps its 49152-token vocab)
with a BPE tokenizer trained on the synthetic conversations, because the GPU machine has no Hub access. Throughput is
tokens (all positions of the packed rows) and trained tokens (assistant tokens) per second over the steps after
``--warmup``, timed from step end to step end (CUDA synchronised), with MFU on trained tokens (FLOPs/token
6N + 12*L*h*S at ``--seq-len``, as the pretraining benchmark; ``--peak-tflops`` 989: H100/H200 dense bf16) and peak
memory. Prints one JSON object, also written to ``--out``, with hardware, versions and how it was measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _env import describe, peak_bf16_tflops  # noqa: E402

WORDS = "value people harm truth help kind careful honest risk safety answer reason question world plain".split()


def conversation(rng: random.Random, turns: int) -> list[dict]:
    def sentence(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."

    messages = []
    for _ in range(turns):
        messages.append({"role": "user", "content": sentence(rng.randint(8, 60))})
        answer = " ".join(sentence(rng.randint(6, 30)) for _ in range(rng.randint(2, 12)))
        messages.append({"role": "assistant", "content": f"{answer} [{rng.randint(1, 6)}.{rng.randint(1, 6)}]"})
    return messages


def write_data(path: Path, n: int, seed: int = 0) -> list[list[dict]]:
    rng = random.Random(seed)
    conversations = [conversation(rng, rng.randint(1, 3)) for _ in range(n)]
    path.write_text("".join(json.dumps({"messages": c}) + "\n" for c in conversations))
    return conversations


def build_base(directory: Path, spec: str, conversations: list[list[dict]], device: str = "cpu") -> Path:
    """A base model folder as `spp pretrain` writes it: weights, tokenizer with markers, spp.json.

    The weights are initialised on ``device`` (a 1.7B random init takes far longer on the CPU than on a GPU).
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from spp.metadata import SppMetadata
    from spp.persona import BlockFormat, load_persona
    from spp.pretrain.specs import build_model

    persona, fmt = load_persona(), BlockFormat()
    texts = [m["content"] for c in conversations[:2000] for m in c] + [persona.identity, "System: User: You are"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=["<|endoftext|>"], initial_alphabet=alphabet)
    tok.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": [fmt.marker, fmt.end_marker]})
    with torch.device(device):
        model = build_model(spec, tokenizer, seed=0)
    model.save_pretrained(directory)
    del model
    tokenizer.save_pretrained(directory)
    block = {"marker": fmt.marker, "end_marker": fmt.end_marker}
    SppMetadata(kind="model", persona=persona.to_dict(), block_format=block, arm="benchmark").save(directory)
    return directory


def timed_trainer_class():
    import torch
    from transformers import TrainerCallback

    from spp.sft.kernels import sft_trainer_class

    SFTTrainer = sft_trainer_class()  # noqa: N806 - spp's SFTTrainer: TRL's plus the kernel fields

    class Clock(TrainerCallback):
        def __init__(self):
            self.ends: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.ends.append(time.perf_counter())

    class CountingSFTTrainer(SFTTrainer):
        """``SFTTrainer`` that records the tokens and trained tokens of every micro-batch."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.tokens: list[tuple[int, int]] = []
            self.clock = Clock()
            self.add_callback(self.clock)

        def training_step(self, model, inputs, *args, **kwargs):
            self.tokens.append((inputs["input_ids"].numel(), int((inputs["labels"] != -100).sum())))
            return super().training_step(model, inputs, *args, **kwargs)

    return CountingSFTTrainer


def profiler_callback(first_step: int, steps: int):
    """A callback that runs ``torch.profiler`` over ``steps`` optimizer steps from ``first_step`` (0-based) and
    keeps the top operators by self time (on the GPU when there is one) in ``.top``."""
    import torch
    from transformers import TrainerCallback

    class Profile(TrainerCallback):
        def __init__(self):
            self.top: list[dict] = []
            self._profiler = None

        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == first_step:
                activities = [torch.profiler.ProfilerActivity.CPU]
                if torch.cuda.is_available():
                    activities.append(torch.profiler.ProfilerActivity.CUDA)
                self._profiler = torch.profiler.profile(activities=activities)
                self._profiler.__enter__()

        def on_step_end(self, args, state, control, **kwargs):
            if self._profiler is not None and state.global_step == first_step + steps:
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                self._profiler.__exit__(None, None, None)
                device = torch.cuda.is_available()
                key = "self_device_time_total" if device else "self_cpu_time_total"
                events = sorted(self._profiler.key_averages(), key=lambda e: getattr(e, key), reverse=True)
                total = sum(getattr(e, key) for e in events) or 1
                self.top = [
                    {
                        "op": e.key,
                        "self_ms_per_step": round(getattr(e, key) / 1000 / steps, 3),
                        "share": round(getattr(e, key) / total, 4),
                        "calls_per_step": e.count // steps,
                    }
                    for e in events[:20]
                ]
                self._profiler = None

    return Profile()


def run(args: argparse.Namespace) -> dict:
    import torch

    from spp.sft.config import SPPSFTConfig
    from spp.sft.data import stage_datasets
    from spp.sft.train import load_base

    cuda = torch.cuda.is_available() and args.device != "cpu"
    work = Path(tempfile.mkdtemp(prefix="spp-sft-bench-"))
    conversations = write_data(work / "chat.jsonl", args.conversations)
    base = build_base(work / "base", args.model, conversations, device="cuda" if cuda else "cpu")
    if cuda:
        torch.cuda.empty_cache()
    config = SPPSFTConfig(
        output_dir=str(work / "out"),
        model_name_or_path=str(base),
        datasets=[{"path": str(work / "chat.jsonl")}],
        max_steps=args.steps,
        per_device_train_batch_size=args.micro_batch,
        max_length=args.seq_len,
        packing=args.packing,
        bf16=cuda,
        use_cpu=not cuda,
        gradient_checkpointing=args.gradient_checkpointing,
        learning_rate=2e-5,
        save_strategy="no",
        report_to="none",
        logging_steps=max(args.steps // 4, 1),
        disable_tqdm=True,
        dataset_num_proc=args.num_proc,
        model_init_kwargs={"attn_implementation": args.attn_implementation},
        liger=args.liger,
        compile_layers=args.compile_layers,
    )
    model, tokenizer, _, _ = load_base(config)
    config.eos_token = "<|end_reflection|>"
    data = stage_datasets(config)[0]
    trainer = timed_trainer_class()(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    profile = profiler_callback(args.warmup + 1, args.profile_steps) if args.profile_steps else None
    if profile is not None:
        trainer.add_callback(profile)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.train()
    accum, ends = config.gradient_accumulation_steps, trainer.clock.ends
    steps = [trainer.tokens[i * accum : (i + 1) * accum] for i in range(len(ends))]
    w = min(args.warmup, len(ends) - 1)
    seconds = ends[-1] - ends[w]
    tokens = sum(t for step in steps[w + 1 :] for t, _ in step)
    trained = sum(a for step in steps[w + 1 :] for _, a in step)
    step_times = sorted(b - a for a, b in zip(ends[w:], ends[w + 1 :], strict=False))
    from spp.pretrain.callbacks import flops_per_token

    n = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    fpt = flops_per_token(n, model.config.num_hidden_layers, model.config.hidden_size, args.seq_len)
    return {
        "benchmark": "sft_throughput",
        "model": args.model,
        "parameters": n,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "seq_len": args.seq_len,
        "micro_batch": args.micro_batch,
        "packing": args.packing,
        "gradient_checkpointing": args.gradient_checkpointing,
        "attn_implementation": model.config._attn_implementation,
        "liger_kernels": trainer.liger_kernels,
        "compile_layers": args.compile_layers,
        "bf16": cuda,
        "steps_timed": len(step_times),
        "tokens_per_s": round(tokens / seconds, 1),
        "trained_tokens_per_s": round(trained / seconds, 1),
        "mfu_trained": round(trained / seconds * fpt / (args.peak_tflops * 1e12), 4),
        "peak_tflops": args.peak_tflops,
        "peak_tflops_source": args.peak_tflops_source,
        "median_step_s": round(step_times[len(step_times) // 2], 4),
        "total_s": round(time.perf_counter() - start, 1),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "final_loss": trainer.state.log_history[-1].get("train_loss"),
        "environment": describe("torch", "transformers", "trl", "datasets", "accelerate", "liger-kernel", "triton"),
        "method": "tokens = all positions of the packed padding-free rows; trained = labels != -100; "
        "time from the end of step `warmup` to the last step end, CUDA synchronised",
        **({"profile_top_ops": profile.top} if profile is not None else {}),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    import torch

    gpu = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-1.7b" if gpu else "tiny", help="spp.pretrain model spec")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu"])
    parser.add_argument("--steps", type=int, default=30 if gpu else 4)
    parser.add_argument("--warmup", type=int, default=5 if gpu else 1)
    parser.add_argument("--seq-len", type=int, default=2048 if gpu else 512)
    parser.add_argument("--micro-batch", type=int, default=8 if gpu else 2)
    parser.add_argument("--conversations", type=int, default=4000 if gpu else 64)
    parser.add_argument("--packing", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=gpu)
    parser.add_argument("--num-proc", type=int, default=None)
    parser.add_argument(
        "--attn-implementation",
        default="sdpa",
        help="sdpa (recipes/sft/identical.yaml), spp_varlen (PyTorch's Flash Attention varlen, no extra package), "
        "flex_attention, or flash_attention_2 where flash-attn is installed. "
        "BFD packing is padding-free: each micro-batch is one flattened sequence, so only a varlen or block-sparse "
        "kernel (flash, flex) skips the attention between different conversations; sdpa computes it under a mask.",
    )
    parser.add_argument("--liger", default="off", choices=["off", "auto", "on"], help="SPPSFTConfig.liger")
    parser.add_argument("--compile-layers", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument(
        "--kernels",
        action="store_true",
        help="the pretraining kernels: --liger on --compile-layers --attn-implementation spp_varlen "
        "--no-gradient-checkpointing (on CPU: --liger auto, no compiling)",
    )
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="dense bf16 peak for MFU (default: by the card's name; H100/H200: 989)"
    )
    parser.add_argument(
        "--profile-steps",
        type=int,
        default=0,
        help="torch.profiler over this many steps after warm-up (their times then include the profiler's overhead); "
        "the top operators by self time go into the JSON",
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON result here")
    args = parser.parse_args(argv)
    if args.kernels:
        args.liger, args.compile_layers = ("on", True) if gpu else ("auto", False)
        args.attn_implementation, args.gradient_checkpointing = "spp_varlen", False
    if args.peak_tflops is None:
        args.peak_tflops, args.peak_tflops_source = peak_bf16_tflops(torch.cuda.get_device_name() if gpu else "cpu")
    else:
        args.peak_tflops_source = "--peak-tflops"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING)
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
