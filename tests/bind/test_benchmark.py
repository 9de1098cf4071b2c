"""benchmarks/bind_throughput.py runs and prints its figures with hardware and versions (no figure is asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.mark.slow
def test_bind_throughput_benchmark_smoke(capsys):
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bind_throughput.py"
    spec = importlib.util.spec_from_file_location("bind_throughput", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--prompts", "60", "--chunk_size", "20", "--concurrency", "8"])
    out = capsys.readouterr().out
    assert out.startswith("hardware: ") and "versions: Python" in out
    assert out.count("statuses {'ok': 60}") == 2 and "us/row" in out
