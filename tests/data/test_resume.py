"""``kill -9`` a running ``spp augment`` at random points, rerun it: the result equals an uninterrupted run's."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from datasets import load_from_disk

# The offline backend, slowed down so the job runs long enough to be killed mid-way; same reflections.
SCRIPT = """
import sys, time
from spp.generate import register_generator
from spp.generate.offline import OfflineGenerator

class SlowOffline(OfflineGenerator):
    def _generate(self, requests):
        time.sleep(0.003 * len(requests))
        return super()._generate(requests)

register_generator("slow-offline", SlowOffline)
from spp.data.augment_cli import main
sys.exit(main(sys.argv[1:]))
"""
WORDS = "the river city weapon market child music scam garden privacy bridge poison history lies school".split()


def _corpus(path: Path, n: int) -> Path:
    rng = random.Random(0)
    with path.open("w") as f:
        for i in range(n):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 80)))
            f.write(json.dumps({"id": f"doc-{i:05d}", "text": text}) + "\n")
    return path


def _command(script: Path, corpus: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        str(script),
        "--dataset", str(corpus),
        "--output_dir", str(out),
        "--backend", "slow-offline",
        "--selection_fraction", "0.5",
        "--chunk_size", "100",
        "--progress", "false",
    ]  # fmt: skip


def _chunks(out: Path) -> int:
    return len(list((out / ".spp-work" / "chunks").glob("chunk-*.parquet")))


def _kill_at_random_point(cmd: list[str], out: Path, rng: random.Random) -> int:
    """Start the job, wait for it to commit a new chunk, kill -9 it a random moment later; returns chunks on disk."""
    before = _chunks(out)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while _chunks(out) == before and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.6))
    assert proc.poll() is None, "the job finished before it could be killed: make the corpus larger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return _chunks(out)


def test_kill_9_three_times_then_rerun_equals_uninterrupted_run(tmp_path):
    script = tmp_path / "run_augment.py"
    script.write_text(SCRIPT)
    corpus = _corpus(tmp_path / "corpus.jsonl", 3000)
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)

    whole = tmp_path / "whole"
    subprocess.run(_command(script, corpus, whole), check=True, capture_output=True)

    resumed = tmp_path / "resumed"
    cmd = _command(script, corpus, resumed)
    progress = [_kill_at_random_point(cmd, resumed, rng) for _ in range(3)]
    assert 0 < progress[0] <= progress[1] <= progress[2] < 30, f"kill seed {seed}: chunks after kills {progress}"
    assert not (resumed / "summary.json").exists()
    subprocess.run(cmd, check=True, capture_output=True)

    a, b = load_from_disk(str(whole)), load_from_disk(str(resumed))
    assert a.column_names == b.column_names
    assert a.to_list() == b.to_list(), f"kill seed {seed}"
    ids = b["id"]
    assert ids == [f"doc-{i:05d}" for i in range(3000)]
    assert (whole / "spp.json").read_bytes() == (resumed / "spp.json").read_bytes()
    assert (whole / "summary.json").read_bytes() == (resumed / "summary.json").read_bytes()
    counts = json.loads((resumed / "summary.json").read_text())["counts"]
    assert counts == {"none": b["reflection_status"].count("none"), "ok": b["reflection_status"].count("ok")}
    assert not list((resumed / ".spp-work" / "chunks").glob(".*tmp*")), "partial writes of killed runs are cleaned"
