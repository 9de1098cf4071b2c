"""Pretraining loader at scale: a rank's rate of whole items (tensors included) as the world size grows, the window
index's build time and size, and a resume at 50% of the stream.

A synthetic augmented corpus (``--documents`` rows, ~``--annotated`` of them with a reflection, the demo corpus
generator), its token cache, the 1.7B recipe's packing (``spp_t0``, seq_len 2048, budget 128, ``document`` layout,
shuffled). For each simulated world size W, one process iterates rank shards of the arm (``PackedArm.shard(rank,
W)``, as ``SPPTrainer`` gives each rank: one core, no dataloader workers) and counts the items it gets per second:
ranks 0, 1, 2, ... in turn until ``--seconds`` have passed. The resume builds a fresh arm (as a restarted process
does) and times ``resume_at(half)`` up to its first item. The script runs against older spp versions too (then
without an index: every rank packs the whole stream).

    python benchmarks/loader_scaling.py --documents 100000 --work_dir /tmp/spp-loader-scaling

Last line: ``loader: per-rank windows/s W=8 <a> W=1024 <b> ratio <b/a>; resume <s> s per 1M docs``.
"""

from __future__ import annotations

import argparse
import inspect
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _env import describe  # noqa: E402

from spp.demo.corpus import write_demo_corpus  # noqa: E402
from spp.pretrain.arms import make_view  # noqa: E402
from spp.pretrain.data import DocumentStream, PackedArm, load_corpus, split_and_order, tokenize_corpus  # noqa: E402
from spp.pretrain.tokenizer import load_tokenizer  # noqa: E402


def prepare(work: Path, args):
    """The corpus, its tokenizer and its token cache in ``work`` (reused when a previous run left them there)."""
    import datasets

    corpus_dir, cache_dir = work / f"corpus-{args.documents}", work / f"cache-{args.documents}"
    if not (cache_dir / "dataset_info.json").is_file():
        shutil.rmtree(corpus_dir, ignore_errors=True)
        began = time.perf_counter()
        write_demo_corpus(
            corpus_dir, rows=args.documents, seed=0, vocab_size=args.vocab_size, reflection_rate=args.annotated,
            min_words=50, max_words=600, window_words=200,
        )  # fmt: skip
        corpus, fmt = load_corpus(corpus_dir)
        tokenizer = load_tokenizer(str(corpus_dir / "tokenizer"), fmt, eos_token="<|endoftext|>")
        tokenize_corpus(corpus, tokenizer, fmt, "1p").save_to_disk(str(cache_dir))
        print(f"corpus and token cache built in {time.perf_counter() - began:.0f} s (reused by later runs)")
    corpus, fmt = load_corpus(corpus_dir)
    tokenizer = load_tokenizer(str(corpus_dir / "tokenizer"), fmt, eos_token="<|endoftext|>")
    return datasets.load_from_disk(str(cache_dir)), tokenizer


def make_arm(tokenized, tokenizer, args, index_dir: Path | None):
    train, _ = split_and_order(tokenized, 0, seed=42, shuffle=True)
    kwargs = {"layout": args.layout}
    if "index_dir" in inspect.signature(PackedArm).parameters and index_dir is not None:
        kwargs["index_dir"] = index_dir
    return PackedArm(
        DocumentStream(train, batch_size=1024), make_view("spp_t0", midtraining_start_tokens=None),
        seq_len=args.seq_len, reflection_budget=args.reflection_budget, eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id, **kwargs,
    )  # fmt: skip


def per_rank_rate(arm, world: int, seconds: float) -> tuple[float, int, int]:
    """Items per second one rank gets at world size ``world`` (ranks in turn until ``seconds`` have passed)."""
    items = ranks = 0
    began = time.perf_counter()
    for rank in range(world):
        ranks += 1
        for item in arm.shard(rank, world):
            assert item["input_ids"].shape[-1] > 0
            items += 1
            if time.perf_counter() - began >= seconds:
                break
        if time.perf_counter() - began >= seconds:
            break
    return items / (time.perf_counter() - began), items, ranks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--annotated", type=float, default=0.1)
    parser.add_argument("--vocab_size", type=int, default=2048)
    parser.add_argument("--seq_len", type=int, default=2048)
    parser.add_argument("--reflection_budget", type=int, default=128)
    parser.add_argument("--layout", default="document")
    parser.add_argument("--worlds", default="1,8,64,512,1024")
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring time per world size (all rounds)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over the world sizes; each reports its median")
    parser.add_argument("--work_dir", default=str(Path(tempfile.gettempdir()) / "spp-loader-scaling"))
    args = parser.parse_args()
    print(describe("torch", "datasets", "numpy", "pyarrow"))
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    tokenized, tokenizer = prepare(work, args)
    index_dir = Path(tempfile.mkdtemp(prefix="index-", dir=work))  # fresh: the build is measured
    arm = make_arm(tokenized, tokenizer, args, index_dir)
    began = time.perf_counter()
    if hasattr(arm, "window_index"):
        index = arm.window_index()
        build = time.perf_counter() - began
        windows = len(index)
        print(
            f"window index: built in {build:.2f} s for {len(tokenized):,} documents, {windows:,} windows; "
            f"{index.windows.nbytes / windows:.1f} bytes per window (window table), "
            f"{index.nbytes / windows:.1f} with the document order ({index.dense_rows.itemsize} bytes per document)"
        )
    else:
        windows = arm.count_windows()
        print(f"window index: none in this version (counting {windows:,} windows took {time.perf_counter() - began:.2f} s)")
    print(
        f"corpus: {len(tokenized):,} documents, {int(sum(tokenized['n_tokens'])):,} document tokens; spp_t0, "
        f"layout {args.layout}, seq_len {args.seq_len}, budget {args.reflection_budget}, shuffled; {windows:,} windows"
    )
    # The world sizes are measured in turn, `rounds` times, and each reports its median round: on a shared machine a
    # burst of load then slows every world size alike instead of the one measured during it.
    worlds = [int(w) for w in args.worlds.split(",")]
    runs: dict[int, list[tuple[float, int, int]]] = {w: [] for w in worlds}
    for _ in range(args.rounds):
        for world in worlds:
            runs[world].append(per_rank_rate(arm, world, args.seconds / args.rounds))
    rates = {}
    for world in worlds:
        rate, items, ranks = sorted(runs[world])[len(runs[world]) // 2]
        rates[world] = rate
        spread = ", ".join(f"{r:,.0f}" for r, _, _ in runs[world])
        print(f"W={world}: {rate:,.1f} windows/s per rank, median of {args.rounds} rounds ({spread}); "
              f"{items:,} items from {ranks:,} rank shard(s) in the median round")  # fmt: skip
    half = windows // 2
    began = time.perf_counter()
    fresh = make_arm(tokenized, tokenizer, args, index_dir)
    first = next(iter(fresh.resume_at(half).shard(0, 1)))
    resume = time.perf_counter() - began
    assert first["input_ids"].shape[-1] == args.seq_len
    per_million = resume / (len(tokenized) / 1e6)
    print(f"resume at window {half:,} (50%) in a fresh arm, up to its first item: {resume:.3f} s")
    shutil.rmtree(index_dir, ignore_errors=True)
    a, b = rates.get(8, float("nan")), rates.get(1024, float("nan"))
    print(f"loader: per-rank windows/s W=8 {a:.1f} W=1024 {b:.1f} ratio {b / a:.2f}; resume {per_million:.3f} s per 1M docs")


if __name__ == "__main__":
    main()
