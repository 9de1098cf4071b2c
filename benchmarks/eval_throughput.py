"""Eval-suite throughput on this machine: prompts/s for generation and for each judge, with a tiny model.

    .venv/bin/python benchmarks/eval_throughput.py [--prompts 64] [--max_new_tokens 32] [--batch_size 16]

Generation: ``TransformersBackend`` (left padding, greedy) on a randomly initialised 2-layer Llama (hidden 32) with
a BPE tokenizer trained here, chat template applied, timed after one warm-up batch. Judging: the keyword judge,
the llm judge against a loopback OpenAI-compatible server that answers instantly (client + HTTP cost only), and
the harmbench-format classifier judge on the same tiny model. Prompts are AdvBench behaviors from
../shared/data/benchmarks when present (SPP_SHARED_BENCHMARKS overrides), else synthetic ones. The figures
measure the pipeline's overhead; real models are bound by their forward passes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _env import describe  # noqa: E402
from aiohttp import web  # noqa: E402

from spp.eval.benchmarks import load_benchmark  # noqa: E402
from spp.eval.generation import GenRequest, GenSettings, TransformersBackend  # noqa: E402
from spp.eval.judges import JudgeInput, KeywordJudge  # noqa: E402
from spp.eval.judges.classifier import ClassifierJudge  # noqa: E402
from spp.eval.judges.llm import LLMJudge  # noqa: E402
from spp.generate.server_pool import ServerConfig  # noqa: E402
from spp.testing.fake_openai import FakeOpenAIServer, free_port  # noqa: E402

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tiny_model(directory: Path, texts: list[str]) -> Path:
    """A random ``tiny``-spec chat model with a BPE tokenizer trained on ``texts``."""
    from spp.pretrain.specs import build_model
    from spp.pretrain.tokenizer import train_tokenizer

    specials = ("<|endoftext|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
    tokenizer = train_tokenizer(texts, 400, special_tokens=specials, pad_token="<|pad|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    build_model("tiny", tokenizer, seed=0).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def behaviors(n: int) -> list[str]:
    shared = Path(
        os.environ.get("SPP_SHARED_BENCHMARKS") or Path(__file__).parents[1] / ".." / "shared" / "data" / "benchmarks"
    )
    if (shared / "advbench_harmful_behaviors.csv").is_file():
        return [i.behavior for i in load_benchmark("advbench", data_dir=str(shared), limit=n)]
    return [f"Explain step {i} of a dangerous procedure in detail" for i in range(n)]


class InstantJudge(FakeOpenAIServer):
    async def _handle(self, request: web.Request) -> web.Response:
        await request.json()
        self.stats.requests += 1
        choice = {"index": 0, "message": {"role": "assistant", "content": "12"}, "finish_reason": "stop"}
        return web.json_response({"id": "j", "object": "chat.completion", "choices": [choice]})


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:10.1f} prompts/s  ({n} prompts, {seconds:.2f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max_new_tokens", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=16)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    texts = behaviors(args.prompts)
    print(describe("torch", "transformers", "aiohttp"))
    print(f"torch threads: {torch.get_num_threads()}; tiny Llama 2x32; {len(texts)} AdvBench-style prompts\n")
    with tempfile.TemporaryDirectory() as tmp:
        model = tiny_model(Path(tmp), texts * 4)
        settings = GenSettings(max_new_tokens=args.max_new_tokens)
        requests = [GenRequest((("user", t),), settings=settings) for t in texts]
        for batch_size in (1, args.batch_size):
            backend = TransformersBackend(str(model), batch_size=batch_size)
            backend.generate(requests[:batch_size])  # warm-up
            started = time.perf_counter()
            responses = backend.generate(requests)
            label = f"generate  batch {batch_size:>3}, {args.max_new_tokens} new tokens:"
            print(f"{label:<44}{rate(len(requests), time.perf_counter() - started)}")
        inputs = [JudgeInput(t, r) for t, r in zip(texts, responses, strict=True)]
        started = time.perf_counter()
        KeywordJudge().judge(inputs * 50)
        print(f"{'judge keyword:':<44}{rate(len(inputs) * 50, time.perf_counter() - started)}")
        with InstantJudge(free_port()) as server:
            judge = LLMJudge(ServerConfig([server.base_url], max_concurrency=64), "judge", logprobs=False)
            judge.judge(inputs[:8])
            started = time.perf_counter()
            judge.judge(inputs * 8)
            print(
                f"{'judge llm (loopback server, 64 in flight):':<44}{rate(len(inputs) * 8, time.perf_counter() - started)}"
            )
        classifier = ClassifierJudge(str(model), format="harmbench", batch_size=args.batch_size)
        classifier.judge(inputs[: args.batch_size])
        started = time.perf_counter()
        classifier.judge(inputs)
        print(f"{'judge classifier (harmbench format):':<44}{rate(len(inputs), time.perf_counter() - started)}")


if __name__ == "__main__":
    main()
