"""Packing throughput (windows/s in one process) and the token cache's size (bytes per token on disk).

Builds a synthetic augmented corpus (the demo corpus generator, ``--documents`` rows, ~``--annotated`` of them with
a reflection), trains a byte-level tokenizer on it (``--vocab_size``), builds the token cache, and packs the whole
``spp_t0`` stream with each layout this spp has. It runs against older spp versions too (a copy of this file in an
old checkout measures "before": dense packing only, the cache at whatever width that version wrote).

    python benchmarks/packing_throughput.py --documents 20000 --seq_len 2048 --reflection_budget 128
"""

from __future__ import annotations

import argparse
import inspect
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _env import describe  # noqa: E402

from spp.demo.corpus import write_demo_corpus  # noqa: E402
from spp.pretrain.arms import make_view  # noqa: E402
from spp.pretrain.data import DocumentStream, PackedArm, load_corpus, tokenize_corpus  # noqa: E402
from spp.pretrain.tokenizer import load_tokenizer  # noqa: E402


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=20_000)
    parser.add_argument("--annotated", type=float, default=0.1)
    parser.add_argument("--vocab_size", type=int, default=2048)
    parser.add_argument("--seq_len", type=int, default=512)
    parser.add_argument("--reflection_budget", type=int, default=64)
    args = parser.parse_args()
    print(describe())
    work = Path(tempfile.mkdtemp(prefix="spp-packing-"))
    extra = {"window_words": 200} if "window_words" in inspect.signature(write_demo_corpus).parameters else {}
    directory = write_demo_corpus(
        work / "corpus", rows=args.documents, seed=0, vocab_size=args.vocab_size, reflection_rate=args.annotated,
        min_words=50, max_words=600, **extra,
    )  # fmt: skip
    corpus, fmt = load_corpus(directory)
    tokenizer = load_tokenizer(str(directory / "tokenizer"), fmt, eos_token="<|endoftext|>")
    start = time.perf_counter()
    tokenized = tokenize_corpus(corpus, tokenizer, fmt, "1p")
    tokenize_s = time.perf_counter() - start
    tokenized.save_to_disk(str(work / "cache"))
    tokens = int(sum(tokenized["n_tokens"]))
    ok = sum(status == "ok" for status in corpus["reflection_status"])
    cache = folder_bytes(work / "cache")
    dtype = tokenized.features["doc_ids"].feature.dtype
    print(f"\ncorpus: {args.documents:,} documents, {tokens:,} document tokens, vocabulary {len(tokenizer):,}")
    print(f"tokenize: {tokenize_s:.2f} s ({tokens / tokenize_s:,.0f} tokens/s, one process)")
    print(f"token cache: {cache / 1e6:.1f} MB on disk, {cache / tokens:.2f} bytes per document token (ids {dtype})")
    layouts = ["dense", "document"] if "layout" in inspect.signature(PackedArm).parameters else ["dense"]
    for layout in layouts:
        kwargs = {"layout": layout} if len(layouts) > 1 else {}
        arm = PackedArm(
            DocumentStream(tokenized, batch_size=1024), make_view("spp_t0"), seq_len=args.seq_len,
            reflection_budget=args.reflection_budget, eos_id=tokenizer.eos_token_id, pad_id=tokenizer.pad_token_id,
            **kwargs,
        )  # fmt: skip
        for _ in zip(range(2000), arm.windows(), strict=False):  # warm-up: first reads of the cache
            pass
        start = time.perf_counter()
        windows = reflections = padding = skipped = 0
        for window in arm.windows():
            skipped += getattr(window, "skipped", 0)  # older versions did not count them
            windows += 1
            reflections += len(window.reflections)
            padding += window.kinds.count(0)
        seconds = time.perf_counter() - start
        print(
            f"pack spp_t0, layout {layout}, seq_len {args.seq_len}, budget {args.reflection_budget}: {windows:,} "
            f"windows in {seconds:.2f} s = {windows / seconds:,.0f} windows/s per process "
            f"({windows * args.seq_len / seconds / 1e6:.2f} M positions/s); {reflections:,} of {ok:,} ok reflections packed "
            + (f"({skipped:,} counted as skipped); " if hasattr(arm, "layout") else "(this version counts no skips); ")
            + f"padding {padding / (windows * (args.seq_len + 1)):.1%} of positions (unused budget included)"
        )


if __name__ == "__main__":
    main()
