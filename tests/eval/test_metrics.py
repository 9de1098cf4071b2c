"""ASR, bootstrap intervals, headline mean/max, and the evaluate metric module."""

from __future__ import annotations

import pytest

from spp.eval import asr_metric_path
from spp.eval.metrics import bootstrap_ci, breakdown, headline, rate, summarize


def test_rate_and_interval():
    flags = [True] * 3 + [False] * 7
    assert rate(flags) == pytest.approx(0.3)
    low, high = bootstrap_ci(flags, samples=2000, seed=1)
    assert 0.0 <= low < 0.3 < high <= 0.8
    assert bootstrap_ci(flags, samples=2000, seed=1) == [low, high]
    assert bootstrap_ci([True] * 5) == [1.0, 1.0]


def test_breakdown_and_summary():
    flags = [True, False, True, True]
    assert breakdown(flags, ["a", "a", "b", ""]) == {"a": {"n": 2, "value": 0.5}, "b": {"n": 1, "value": 1.0}}
    summary = summarize(flags, ["x"] * 4, ["dan-a", "dan-b", "dan-a", "dan-b"], samples=100)
    assert summary["n"] == 4 and summary["value"] == 0.75
    assert summary["by_attack"]["dan-a"]["value"] == 1.0


def test_headline_mean_and_max():
    result = headline({"advbench": [False] * 10, "dan": [True] * 4 + [False] * 6}, samples=500)
    assert result["mean"] == pytest.approx(0.2)
    assert result["max"] == pytest.approx(0.4) and result["max_benchmark"] == "dan"
    assert result["mean_ci"][0] <= 0.2 <= result["mean_ci"][1]
    assert result["max_ci"][0] <= 0.4 <= result["max_ci"][1]
    assert headline({})["mean"] is None


def test_evaluate_metric_module_loads_offline(monkeypatch, tmp_path):
    import evaluate

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    metric = evaluate.load(asr_metric_path(), cache_dir=str(tmp_path))
    out = metric.compute(predictions=[1, 0, 0, 1, 1], references=["dan", "dan", "pap", "pap", "pap"])
    assert out["asr"] == pytest.approx(0.6) and out["n"] == 5
    assert out["asr_by_group"] == {"dan": 0.5, "pap": pytest.approx(2 / 3)}
    assert out["asr_ci_low"] <= 0.6 <= out["asr_ci_high"]


def test_the_asr_metric_without_evaluate_names_the_extra(monkeypatch):
    """``evaluate`` is the `evaluate` extra: without it, asking for the metric and loading its module both fail at
    once, naming the extra."""
    import importlib.util
    import runpy
    import sys
    from pathlib import Path

    module = Path(asr_metric_path()) / "asr.py"
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "evaluate" else find_spec(name, *a))
    with pytest.raises(ImportError, match=r"pip install 'spp\[evaluate\]'"):
        asr_metric_path()
    monkeypatch.setitem(sys.modules, "evaluate", None)  # `import evaluate` raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'spp\[evaluate\]'"):
        runpy.run_path(str(module))
