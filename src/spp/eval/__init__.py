"""The spp safety evaluation suite: benchmarks, attack transforms, cached generation, judges, metrics, reports.

Public API: ``run_suite(EvalConfig(...))`` -> results dict; ``write_results``; ``compare``; ``load_benchmark`` and
the ``BENCHMARKS`` registry; ``JUDGES``/``build_judge``; ``asr_metric_path()`` for ``evaluate.load``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from spp.eval.benchmarks import BENCHMARKS, HEADLINE, get_benchmark, load_benchmark, register_benchmark
from spp.eval.config import CompareConfig, EvalConfig


def asr_metric_path() -> str:
    """The folder of the ``evaluate`` ASR metric: ``evaluate.load(asr_metric_path())``. ``evaluate`` is an optional
    dependency (``pip install 'spp[evaluate]'``; spp's own eval does not use it): without it, ``ImportError`` naming
    that extra, before ``evaluate.load`` is reached."""
    import importlib.util

    if importlib.util.find_spec("evaluate") is None:
        raise ImportError("the ASR metric is an `evaluate` metric: pip install 'spp[evaluate]' (or evaluate)")
    return str(Path(str(resources.files("spp.eval") / "metric_modules" / "asr")))


def run_suite(*args, **kwargs):
    from spp.eval.suite import run_suite as run

    return run(*args, **kwargs)


__all__ = [
    "BENCHMARKS",
    "HEADLINE",
    "CompareConfig",
    "EvalConfig",
    "asr_metric_path",
    "get_benchmark",
    "load_benchmark",
    "register_benchmark",
    "run_suite",
]
