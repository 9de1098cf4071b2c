"""Throughput of ``spp augment`` (offline generator + offline scorer) and of harm scoring with a tiny classifier.

The job runs in one process on one core. Its own overhead is everything except time inside the generator's and the
scorer's calls (reading, ids, selection, pauses, canary draws, parquet chunk writes, progress): measured as
``shard wall time - generator seconds - scorer seconds``, and also stated per document and as the share it would be
at 1,000 docs/s (overhead per doc x 1,000 docs/s). The merge (one pass that writes the final dataset) is timed apart.

With ``--datatrove_tasks N`` (needs ``spp[datatrove]``) the same corpus also runs on datatrove's
``LocalPipelineExecutor`` (N tasks, then the finalize task), and a side-by-side table prints the whole-job docs/s of
both (load, generation, chunk writes and the merge, as one command runs them).

    python benchmarks/augment_throughput.py --documents 50000 --score_documents 2000 --datatrove_tasks 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _env import describe  # noqa: E402

from spp.data.corpora import load_builtin  # noqa: E402
from spp.data.executor import ExecutorConfig  # noqa: E402
from spp.data.job import AugmentConfigs, AugmentJob, AugmentJobConfig  # noqa: E402
from spp.data.scoring import HarmScoreConfig, build_scorer  # noqa: E402
from spp.data.selection import SelectionConfig  # noqa: E402
from spp.data.sources import SourceConfig  # noqa: E402
from spp.testing.tiny_classifier import build_tiny_classifier, vocabulary  # noqa: E402


def corpus(path: Path, n: int) -> tuple[Path, float]:
    """``n`` stdlib docstrings (repeated with unique ids) as parquet; returns the path and the text size in MB."""
    from datasets import Dataset

    base = load_builtin("stdlib-docs")
    texts = [base[i % len(base)]["text"] for i in range(n)]
    Dataset.from_dict({"id": [f"doc-{i}" for i in range(n)], "text": texts}).to_parquet(str(path))
    return path, sum(len(t.encode()) for t in texts) / 1e6


def _configs(work: Path, path: Path, out: str, fraction: float, **executor) -> AugmentConfigs:
    return AugmentConfigs(
        job=AugmentJobConfig(output_dir=str(work / out), chunk_size=2000, progress=False),
        source=SourceConfig(dataset=str(path)),
        selection=SelectionConfig(selection_fraction=fraction),
        executor=ExecutorConfig(**executor),
    )


def bench_job(work: Path, n: int, fraction: float) -> tuple[Path, float]:
    """spp's own job; returns the corpus and the whole job's seconds (shard + merge)."""
    path, mb = corpus(work / "corpus.parquet", n)
    with AugmentJob(_configs(work, path, "out", fraction)) as job:
        start = time.perf_counter()
        result = job.run_shard()
        shard_s = time.perf_counter() - start
        start = time.perf_counter()
        job.merge()
        merge_s = time.perf_counter() - start
    run = result["this_run"]
    inside = run["busy_seconds"]  # wall time with a generator or scorer call in flight
    overhead = run["seconds"] - inside
    per_doc_us = 1e6 * overhead / n
    print(f"\n== spp augment, offline generator + offline scorer, {n} docs ({mb:.1f} MB), selection {fraction:.0%}")
    print(
        f"shard (load + process + chunk writes): {shard_s:.2f} s  ->  {n / shard_s:,.0f} docs/s, {mb / shard_s:.2f} MB/s per core"
    )
    print(f"  inside generator: {run['generator_seconds']:.2f} s, inside scorer: {run['scorer_seconds']:.2f} s")
    print(f"  job overhead: {overhead:.2f} s = {overhead / run['seconds']:.1%} of processing wall time here;")
    print(f"  {per_doc_us:.1f} us/doc -> {per_doc_us * 1000 / 1e6:.1%} of wall time at 1,000 docs/s (target < 10%)")
    print(f"merge into the final dataset: {merge_s:.2f} s ({n / merge_s:,.0f} docs/s)")
    whole = shard_s + merge_s
    whole_overhead = whole - inside
    print(f"whole job: {whole:.2f} s -> {n / whole:,.0f} docs/s, {mb / whole:.2f} MB/s per core (one process)")
    print(
        f"  whole-job overhead (load, ids, selection, writes, merge): {whole_overhead:.2f} s = "
        f"{whole_overhead / whole:.1%} here; {1e6 * whole_overhead / n:.1f} us/doc -> "
        f"{whole_overhead / n * 1000:.1%} of wall time at 1,000 docs/s (target < 10%)"
    )
    return path, whole


def bench_datatrove(work: Path, path: Path, n: int, fraction: float, tasks: int, spp_whole_s: float) -> None:
    """The same corpus and recipe on datatrove's LocalPipelineExecutor; the two side by side."""
    import importlib.metadata

    from datasets import load_from_disk

    from spp.data.datatrove_backend import run_with_datatrove

    configs = _configs(work, path, "out-datatrove", fraction, executor="local", tasks=tasks)
    start = time.perf_counter()
    assert run_with_datatrove(configs) == 0
    whole = time.perf_counter() - start
    same = load_from_disk(str(work / "out-datatrove")).to_list() == load_from_disk(str(work / "out")).to_list()
    version = importlib.metadata.version("datatrove")
    print(f"\n== spp's job vs datatrove {version} LocalPipelineExecutor, {n} docs, whole job (load, generate, merge)")
    print(f"{'engine':<44} {'seconds':>8} {'docs/s':>10}")
    print(f"{'spp job (1 process)':<44} {spp_whole_s:>8.2f} {n / spp_whole_s:>10,.0f}")
    print(f"{f'datatrove local ({tasks} tasks + finalize)':<44} {whole:>8.2f} {n / whole:>10,.0f}")
    print(f"identical rows in corpus order: {same}")


def bench_scoring(work: Path, n: int, max_length: int) -> None:
    base = load_builtin("stdlib-docs")
    texts = [base[i % len(base)]["text"] for i in range(n)]
    model = build_tiny_classifier(work / "tiny-classifier", vocabulary(texts))
    scorer = build_scorer(
        HarmScoreConfig(
            harm_scorer="transformers", harm_model=str(model), harm_max_length=max_length, harm_batch_size=64
        )
    )
    mb = sum(len(t.encode()) for t in texts) / 1e6
    import torch

    start = time.perf_counter()
    for i in range(0, n, 256):
        scorer.score(texts[i : i + 256])
    wall = time.perf_counter() - start
    threads = torch.get_num_threads()
    print(
        f"\n== harm scoring, tiny 2-layer BERT classifier (built from config), {n} docs ({mb:.1f} MB), windows of {max_length} tokens, max over windows"
    )
    print(
        f"{wall:.2f} s -> {n / wall:,.0f} docs/s, {mb / wall:.2f} MB/s on {threads} torch threads ({mb / wall / threads:.2f} MB/s per core)"
    )
    offline = build_scorer(HarmScoreConfig())
    start = time.perf_counter()
    offline.score(texts)
    wall = time.perf_counter() - start
    print(f"offline keyword scorer: {n / wall:,.0f} docs/s, {mb / wall:.2f} MB/s per core")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=50_000)
    parser.add_argument("--selection_fraction", type=float, default=0.10)
    parser.add_argument("--score_documents", type=int, default=2_000)
    parser.add_argument("--max_length", type=int, default=256)
    parser.add_argument("--datatrove_tasks", type=int, default=0, help="also run the datatrove backend (0: skip)")
    args = parser.parse_args()
    print(describe("datasets", "transformers", "torch", "pyarrow", "datatrove"))
    print("measured: wall clock (time.perf_counter) of one process; generator/scorer time summed around their calls")
    with tempfile.TemporaryDirectory() as tmp:
        path, whole = bench_job(Path(tmp), args.documents, args.selection_fraction)
        if args.datatrove_tasks:
            bench_datatrove(Path(tmp), path, args.documents, args.selection_fraction, args.datatrove_tasks, whole)
        bench_scoring(Path(tmp), args.score_documents, args.max_length)


if __name__ == "__main__":
    main()
