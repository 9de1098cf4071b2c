"""Throughput of spp's optimisation attacks: behaviours/hour and tokens/s of the optimisation loop.

    .venv/bin/python benchmarks/attack_throughput.py                                   # CPU: tiny model, PEZ
    python benchmarks/attack_throughput.py --model smollm2-1.7b --device cuda --out attack_throughput.json  # GPU

The model is a randomly initialised spp model spec (``tiny``: 2 layers, hidden 64; ``smollm2-1.7b``: the paper's
shape with its 49152-token vocabulary) with a byte-level BPE tokenizer trained here on the toy behaviours and the
Value Constitution, and a chat template, because the machines that run this have no Hub access. The behaviours are
the demo's toy HarmBench rows with "Sure, here is how to ..." targets. Timed: the method's own optimisation loop
(``spp.attack`` registry, ``--behaviors`` behaviours in batches of ``--behaviors-per-batch``) after a 2-step
warm-up, CUDA synchronised; model loading and writing files are not. ``tokens/s`` counts positions through the model
(forward + backward for PEZ; gradient pass + every candidate for GCG). ``test_case_steps_per_s`` (test cases x
steps / s) is the figure ``spp experiment --dry_run`` turns into device-hours (``throughput.json`` 'attack').
Prints hardware, versions and one JSON object (also written to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _env import cpu_model, describe, versions  # noqa: E402

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build(spec: str, device: str, dtype: str):
    import torch

    from spp.demo.toydata import BEHAVIORS
    from spp.persona import load_constitution
    from spp.pretrain.specs import build_model
    from spp.pretrain.tokenizer import train_tokenizer

    texts = [b for b, _ in BEHAVIORS] + load_constitution().render().split("\n")
    specials = ("<|endoftext|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
    tokenizer = train_tokenizer(texts, 1000, special_tokens=specials, pad_token="<|pad|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    model = build_model(spec, tokenizer, seed=0).to(device=device, dtype=getattr(torch, dtype)).eval()
    model.requires_grad_(False)
    return model, tokenizer


def behaviors(n: int):
    from spp.attack.behaviors import Behavior
    from spp.demo.toydata import BEHAVIORS

    rows = [BEHAVIORS[i % len(BEHAVIORS)] for i in range(n)]
    return [Behavior(f"toy{i}", b, "", f"Sure, here is how to {b[0].lower()}{b[1:]}") for i, (b, _) in enumerate(rows)]


def main() -> None:
    import torch

    from spp.attack.prompts import build_context, prompt_rows
    from spp.attack.registry import get_method

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="spp model spec: tiny or smollm2-1.7b")
    parser.add_argument("--method", default="pez")
    parser.add_argument("--behaviors", type=int, default=8)
    parser.add_argument("--behaviors-per-batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=0, help="optimisation steps (0: the method's HarmBench default)")
    parser.add_argument("--test-cases", type=int, default=0, help="per behaviour (0: the method's default)")
    parser.add_argument("--search-width", type=int, default=0, help="gcg: candidates per step (0: default 512)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="", help="default: bfloat16 on cuda, float32 on cpu")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    dtype = args.dtype or ("bfloat16" if args.device == "cuda" else "float32")
    method = get_method(args.method)
    hp = dict(method.defaults)
    hp.update({k: v for k, v in (("num_steps", args.steps), ("num_test_cases_per_behavior", args.test_cases),
                                 ("search_width", args.search_width)) if v and k in hp})  # fmt: skip
    if "eval_with_check_refusal" in hp:
        hp["eval_with_check_refusal"] = False  # time the search itself, every step

    model, tokenizer = build(args.model, args.device, dtype)
    context = build_context(model, tokenizer, chat=True)
    todo = behaviors(args.behaviors)
    warm = prompt_rows(context, todo[:1], 1)
    method.optimize(context, warm, {**hp, "num_steps": 2}, 0)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    sync()
    started, tokens, rows = time.perf_counter(), 0, 0
    for start in range(0, len(todo), args.behaviors_per_batch):
        batch = prompt_rows(
            context, todo[start : start + args.behaviors_per_batch], int(hp["num_test_cases_per_behavior"])
        )
        results = method.optimize(context, batch, hp, 0)
        tokens += sum(r.tokens for r in results)
        rows += len(batch)
    sync()
    seconds = time.perf_counter() - started
    params = sum(p.numel() for p in model.parameters())
    hardware = (
        torch.cuda.get_device_name(0)
        if args.device == "cuda"
        else f"CPU {cpu_model()}, {torch.get_num_threads()} threads"
    )
    figure = {
        "method": method.name,
        "model": args.model,
        "parameters": params,
        "hyperparameters": hp,
        "behaviors": len(todo),
        "behaviors_per_batch": args.behaviors_per_batch,
        "test_cases": rows,
        "seconds": round(seconds, 3),
        "behaviors_per_hour": round(len(todo) / seconds * 3600, 1),
        "tokens_per_s": round(tokens / seconds, 1),
        "test_case_steps_per_s": round(rows * int(hp["num_steps"]) / seconds, 2),
        "hardware": hardware,
        "dtype": dtype,
        "software": versions("torch", "transformers"),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if args.device == "cuda" else None,
        "source": "benchmarks/attack_throughput.py (measured by spp)",
        "date": time.strftime("%Y-%m-%d"),
    }
    print(describe("torch", "transformers"))
    print(
        f"{method.name} on {args.model} ({params / 1e6:.2f}M parameters, {dtype}, {args.device}): {len(todo)} behaviours "
        f"x {hp['num_test_cases_per_behavior']} test cases x {hp['num_steps']} steps in {seconds:.1f} s"
    )
    print(
        f"  {figure['behaviors_per_hour']:,.1f} behaviours/hour, {figure['tokens_per_s']:,.0f} tokens/s of the "
        f"optimisation loop, {figure['test_case_steps_per_s']:,.1f} test-case steps/s"
    )
    print(json.dumps(figure, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(figure, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
