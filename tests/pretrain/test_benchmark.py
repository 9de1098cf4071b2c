"""benchmarks/pretrain_throughput.py runs the recipe as it is configured (document layout, accumulation to its global
batch), counts trained and padded tokens apart, and record_throughput.py copies its figures into throughput.json.
No figure is asserted: the CPU smoke checks what is measured and how it is recorded."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_card_names_become_short_slugs():
    record = load("record_throughput")
    assert record.card_slug("NVIDIA H100 80GB HBM3") == "h100"
    assert record.card_slug("NVIDIA H200") == "h200"
    assert record.card_slug("NVIDIA A100-SXM4-80GB") == "a100"
    assert record.card_slug("cpu") == "cpu"


@pytest.mark.slow
def test_pretrain_benchmark_smoke_measures_the_recipe_and_records_it(tmp_path, capsys):
    bench = load("pretrain_throughput")
    results = tmp_path / "2026-12-06-cpu"
    out = results / "pretrain_throughput.json"
    argv = ["--device", "cpu", "--smoke", "--sweep", "4", "--sweep-checkpointing", "off", "--out", str(out)]
    assert bench.main(argv) == 0
    result = json.loads(out.read_text())
    assert result["recipe"] == "recipes/pretrain/smollm2-1.7b.yaml" and result["model"]["layout"] == "document"
    assert result["overrides"]["arm"] == "spp_t0"
    assert result["fields_as_run"]["liger"] == "auto" and result["overrides"]["global_batch_windows"] == "32"
    recipe = result["phases"]["recipe"]
    # the recipe's global batch reached by accumulation: 32 windows = 4 x 8 micro-batches, one optimizer step
    assert (recipe["micro_batch"], recipe["gradient_accumulation_steps"], recipe["optimizer_steps"]) == (4, 8, 1)
    assert recipe["micro_batches"] == 8 and recipe["micro_batches_timed"] == 6  # after 2 warm-up micro-batches
    assert 0 < recipe["trained_tokens_per_s"] < recipe["padded_tokens_per_s"]  # the document layout pads
    assert recipe["padding_share"] == pytest.approx(1 - recipe["trained_tokens_per_s"] / recipe["padded_tokens_per_s"], abs=1e-3)
    sweep = result["phases"]["sweep_mb4_ckpt_off"]
    assert (sweep["gradient_accumulation_steps"], sweep["optimizer_steps"]) == (2, 2)  # 8 windows per step
    for phase in ("fp8", "fp8_ab"):  # refused on the CPU, and the JSON says why
        assert "compute capability >= 8.9" in result["phases"][phase]["skipped"]

    record = load("record_throughput")
    base = BENCHMARKS / "throughput.json"
    written = tmp_path / "throughput.json"
    assert record.main(["--results", str(results), "--base", str(base), "--write", str(written)]) == 0
    figures = json.loads(written.read_text())
    old = json.loads(base.read_text())
    assert all(name in figures["pretrain"] for name in old["pretrain"])  # nothing recorded before is lost
    entry = figures["pretrain"]["cpu-spp-recipe-mb4-2026-12-06"]
    assert entry["tokens_per_s_per_gpu"] == recipe["padded_tokens_per_s"]  # what the dry run multiplies by positions
    assert entry["trained_tokens_per_s_per_gpu"] == recipe["trained_tokens_per_s"]
    assert entry["mfu"] == recipe["mfu_trained"] and "document layout" in entry["setup"]
    assert "benchmarks/measured/2026-12-06-cpu/pretrain_throughput.json, phase recipe" in entry["source"]
    assert "| recipe |" in (results / "README.md").read_text()
