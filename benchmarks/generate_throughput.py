"""The eval's decoding throughput for a model shape: new tokens/s per device, as `spp eval` generates.

    .venv/bin/python benchmarks/generate_throughput.py --model_spec smollm2-1.7b --device cuda --batch_size 16
    .venv/bin/python benchmarks/generate_throughput.py --model_spec tiny --device cpu --prompts 32 --max_new_tokens 16

A randomly initialised model of the spec (``spp.pretrain.specs``; same FLOPs and bytes per token as trained weights)
with a chat tokenizer trained here generates greedily through ``spp.modeling.generate_batch`` (left padding, the chat
template applied, the eval's path) for AdvBench-style prompts, ``batch_size`` at a time, after one warm-up batch.
Random weights seldom emit EOS, so every answer runs to ``max_new_tokens``: the figure is the slow case of a
benchmark whose answers are that long. It prints hardware, versions and a JSON figure for the ``generate`` section of
``benchmarks/throughput.json``, which ``spp experiment --dry_run`` turns into GPU-hours (``generate_throughput_figure``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _env import describe  # noqa: E402
from eval_throughput import CHAT_TEMPLATE, behaviors  # noqa: E402


def build(directory: Path, spec: str, texts: list[str]):
    """A random model of ``spec`` and a chat tokenizer trained on ``texts``, saved to ``directory``."""
    from spp.pretrain.specs import build_model
    from spp.pretrain.tokenizer import train_tokenizer

    specials = ("<|endoftext|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
    tokenizer = train_tokenizer(texts, 400, special_tokens=specials, pad_token="<|pad|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    build_model(spec, tokenizer, seed=0).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_spec", default="tiny")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_new_tokens", type=int, default=300)
    args = parser.parse_args()

    from spp.modeling import ModelSettings, Sampling, chat_prompt, generate_batch, load_causal_lm, load_tokenizer

    texts = behaviors(args.prompts)
    print(describe("torch", "transformers"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = build(Path(tmp), args.model_spec, texts * 4)
        settings = ModelSettings(device=args.device, dtype=args.dtype)
        tokenizer = load_tokenizer(str(folder), settings, left_pad=True)
        model = load_causal_lm(str(folder), settings)
        prompts = [chat_prompt(tokenizer, [{"role": "user", "content": t}]) for t in texts]
        sampling = Sampling(args.max_new_tokens)
        generate_batch(model, tokenizer, prompts[: args.batch_size], Sampling(8))  # warm-up
        sync = getattr(__import__("torch").cuda, "synchronize", None) if model.device.type == "cuda" else None
        started, new_tokens = time.perf_counter(), 0
        for start in range(0, len(prompts), args.batch_size):
            batch = generate_batch(model, tokenizer, prompts[start : start + args.batch_size], sampling)
            new_tokens += sum(g.tokens_out for g in batch)
        if sync is not None:
            sync()
        seconds = time.perf_counter() - started
    rate = new_tokens / seconds
    print(f"{args.model_spec} on {model.device} ({str(model.dtype).removeprefix('torch.')}), batch {args.batch_size}, "
          f"{args.max_new_tokens} new tokens: {rate:,.1f} new tokens/s ({new_tokens} tokens, {seconds:.1f} s)")  # fmt: skip
    figure = {
        "model": args.model_spec,
        "tokens_per_s_per_gpu": round(rate, 1),
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "setup": "spp.modeling.generate_batch, greedy, chat template, random weights (answers run to max_new_tokens)",
        "hardware": describe().splitlines()[0].removeprefix("hardware: "),
        "date": date.today().isoformat(),
        "source": "benchmarks/generate_throughput.py",
    }
    print("generate figure for benchmarks/throughput.json:\n" + json.dumps(figure, indent=2))


if __name__ == "__main__":
    main()
