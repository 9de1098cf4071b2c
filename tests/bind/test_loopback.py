"""Acceptance 1: bind-data against a loopback OpenAI-compatible server, 300 prompts of the three categories.

Paired rows, counts per status that add up exactly, a rerun after faults (or after the server was down) that sends
requests only for the failed rows, and kill -9 at random points followed by a rerun that gives the same dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from datasets import load_from_disk

from spp.bind.cli import main
from spp.bind.offline import chat_responder
from spp.bind.prompts import BindPrompter
from spp.persona import load_constitution, load_persona
from spp.testing.fake_openai import FakeOpenAIServer, free_port

from .conftest import write_recipe

PROMPTER = BindPrompter(load_constitution(), load_persona())


def _server(port: int, **kw) -> FakeOpenAIServer:
    return FakeOpenAIServer(port, reply=chat_responder(PROMPTER.persona, PROMPTER.constitution), **kw)


def _argv(recipe: Path, out: Path, port: int, *extra: str) -> list[str]:
    return [
        "--config", str(recipe), "--output_dir", str(out), "--backend", "openai", "--model", "loopback",
        "--base_urls", f"http://127.0.0.1:{port}/v1", "--chunk_size", "25", "--max_concurrency", "16",
        "--backoff_base_s", "0.01", "--backoff_max_s", "0.05", *extra,
    ]  # fmt: skip


def _key(row: dict) -> str:
    """The server's document key of a row's request (hash of the user message it was sent)."""
    return hashlib.sha256(PROMPTER.user_message(row["category"], row["prompt"]).encode()).hexdigest()[:16]


def _rows(out: Path) -> list[dict]:
    return load_from_disk(str(out)).to_list()


@pytest.fixture
def recipe(tmp_path, prompt_files) -> Path:
    return write_recipe(tmp_path / "bind.yaml", prompt_files, num_prompts=300)


@pytest.fixture
def reference(tmp_path, recipe) -> list[dict]:
    """An uninterrupted run against a healthy server."""
    port = free_port()
    with _server(port):
        assert main(_argv(recipe, tmp_path / "reference", port)) == 0
    return _rows(tmp_path / "reference")


def test_300_prompts_paired_rows_and_exact_counts(tmp_path, reference):
    summary = json.loads((tmp_path / "reference" / "summary.json").read_text())
    assert len(reference) == 300 and sum(summary["counts"].values()) == 300
    assert Counter(r["category"] for r in reference) == {"harmful": 100, "benign": 100, "jailbreak": 100}
    assert summary["counts"] == dict(Counter(r["status"] for r in reference))
    rejected = [r for r in reference if r["status"] == "rejected"]
    assert summary["counts"] == {"ok": 300 - len(rejected), "rejected": len(rejected)} and rejected
    assert summary["rejected"] == {"misjudged:harmful_as_benign": len(rejected)}
    assert all(r["raw_response"] and r["messages_cite"] is None for r in rejected)  # kept for audit, no messages
    ok = [r for r in reference if r["status"] == "ok"]
    assert all(r["messages_cite"][1]["content"] != r["messages_nocite"][1]["content"] for r in ok)
    assert summary["tokens_in"] == 300 * 100  # the server's usage, one answer per prompt


def test_rerun_after_faults_regenerates_only_the_failed_rows(tmp_path, recipe, reference):
    out, port = tmp_path / "faulty", free_port()
    with _server(port, fault_rate=0.3, seed=1, stall_s=0.01) as faulty:
        assert main(_argv(recipe, out, port, "--max_tries", "1")) == 0
    first = _rows(out)
    failed = [r for r in first if r["status"] == "failed"]
    summary = json.loads((out / "summary.json").read_text())
    rejected = [r for r in first if r["status"] == "rejected"]
    assert 40 < len(failed) < 150 and rejected
    assert summary["counts"] == {
        "ok": 300 - len(failed) - len(rejected),
        "failed": len(failed),
        "rejected": len(rejected),
    }
    assert sum(summary["failed"].values()) == len(failed) and all(r["reason"] for r in failed)
    assert all(r["messages_cite"] is None and r["messages_nocite"] is None for r in failed)
    assert set(faulty.stats.successes) == {_key(r) for r in first if r["status"] != "failed"}
    with _server(port) as healthy:
        assert main(_argv(recipe, out, port)) == 0
    assert healthy.stats.requests == len(failed)  # nothing else was asked again, rejected rows neither
    assert dict(healthy.stats.successes) == {_key(r): 1 for r in failed}
    assert _strip_attempts(_rows(out)) == _strip_attempts(reference)


def test_rerun_after_the_server_was_down_regenerates_every_failed_row_once(tmp_path, recipe, reference):
    out, port = tmp_path / "down", free_port()  # nothing listens on this port yet
    assert main(_argv(recipe, out, port, "--max_tries", "2")) == 0
    down = json.loads((out / "summary.json").read_text())
    assert down["counts"] == {"failed": 300} and list(down["failed"]) == ["connection_error: ClientConnectorError"]
    with _server(port) as server:
        assert main(_argv(recipe, out, port)) == 0
    assert server.stats.requests == 300 and set(server.stats.successes.values()) == {1}
    assert _rows(out) == reference


def _strip_attempts(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "attempts"} for r in rows]


@pytest.mark.slow
def test_kill_9_at_random_points_then_rerun_gives_the_same_dataset(tmp_path, recipe, reference):
    out, port = tmp_path / "killed", free_port()
    chunks = out / ".spp-work" / "chunks"
    argv = [sys.executable, "-m", "spp", "bind-data", *_argv(recipe, out, port)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    rng = random.Random(0)
    kills = 0
    with _server(port, delay_s=0.01):
        for _ in range(3):  # kill -9 while chunks are being written, at a random moment after the n-th chunk
            process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            target = len(list(chunks.glob("chunk-*.parquet"))) + rng.randint(1, 3) if chunks.is_dir() else 1
            while process.poll() is None and (not chunks.is_dir() or len(list(chunks.glob("chunk-*"))) < target):
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.2))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait()
        assert kills >= 2 and not (out / "spp.json").exists()  # killed before the merge, mid-job
        assert subprocess.run(argv, env=env, capture_output=True).returncode == 0
    assert _strip_attempts(_rows(out)) == _strip_attempts(reference)
