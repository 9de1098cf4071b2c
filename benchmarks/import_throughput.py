"""``spp import-reflections`` throughput in one process: corpus rows/s and joined reflections/s.

Writes a synthetic corpus (``--documents`` rows of ``--words`` words) and a sidecar in the authors' schema for
``--annotated`` of them (both voices, a pause, its token index, citations; no end placement), trains a byte-level
tokenizer, then times one local import (one shard) of the whole corpus and, separately, building the sidecar's id
index. Reading, joining, re-checking every reflection against the tokenizer and the budget, and writing the chunks
and the merged corpus are all in the figure.

    python benchmarks/import_throughput.py --documents 100000 --annotated 0.1
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _env import describe  # noqa: E402

WORDS = "the river city market child garden bridge school music history story teacher window bread light".split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--annotated", type=float, default=0.1)
    parser.add_argument("--words", type=int, default=300)
    parser.add_argument("--chunk_size", type=int, default=10_000)
    args = parser.parse_args()
    print(describe("datasets", "pyarrow", "tokenizers"))

    import pyarrow as pa
    import pyarrow.parquet as pq

    from spp.contract import encode_reflection
    from spp.data.import_cli import parse
    from spp.data.import_job import run_import
    from spp.data.sidecar import SidecarIndex
    from spp.persona.render import BlockFormat
    from spp.pretrain.tokenizer import prepare_tokenizer, train_tokenizer

    work = Path(tempfile.mkdtemp(prefix="spp-import-"))
    rng = random.Random(0)
    texts = [" ".join(rng.choices(WORDS, k=args.words)) for _ in range(args.documents)]
    with (work / "corpus.jsonl").open("w") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"doc-{i}", "text": text}) + "\n")
    tokenizer = train_tokenizer(texts[:2000], vocab_size=1024)
    fmt = BlockFormat("<assistant>", "")
    prepare_tokenizer(tokenizer, fmt)
    tokenizer.save_pretrained(work / "tokenizer")
    picked = rng.sample(range(args.documents), int(args.documents * args.annotated))
    rows = []
    for i in picked:
        position = len(" ".join(texts[i].split()[:40]))
        rows.append({
            "doc_id": f"doc-{i}", "safety_score": float(rng.randint(0, 5)),
            "reflection_1p": "I read about the river and I choose honesty [1.2].",
            "reflection_3p": "Ava reads about the river and chooses honesty [1.2].",
            "reflection_position": position,
            "reflection_token_index": len(encode_reflection(tokenizer, texts[i][:position])),
            "charter_reflection": '["1.2"]', "canary_type": None,
        })  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows), work / "sidecar.parquet")
    print(f"corpus: {args.documents:,} documents of {args.words} words; sidecar: {len(rows):,} reflections")

    ids = pq.read_table(work / "sidecar.parquet", columns=["doc_id"]).column("doc_id")
    start = time.perf_counter()
    SidecarIndex(ids)
    index_s = time.perf_counter() - start
    print(f"sidecar index: {len(rows):,} ids in {index_s:.2f} s ({len(rows) / index_s:,.0f} ids/s)")

    argv = ["--dataset", str(work / "corpus.jsonl"), "--sidecar", str(work / "sidecar.parquet"),
            "--training_tokenizer", str(work / "tokenizer"), "--marker", fmt.marker, "--end_marker", "",
            "--reflection_budget", "128", "--seq_len", "2048", "--chunk_size", str(args.chunk_size),
            "--progress", "false", "--output_dir", str(work / "out")]  # fmt: skip
    configs = parse(argv)  # modules imported, configs checked: the clock measures the job alone
    start = time.perf_counter()
    run_import(configs)
    seconds = time.perf_counter() - start
    summary = json.loads((work / "out" / "summary.json").read_text())
    assert summary["counts"]["ok"] == len(rows), summary["counts"]
    print(
        f"import (one process, corpus load + join + checks + chunks + merge): {seconds:.1f} s, "
        f"{args.documents / seconds:,.0f} corpus rows/s, {len(rows) / seconds:,.0f} reflections/s"
    )


if __name__ == "__main__":
    main()
