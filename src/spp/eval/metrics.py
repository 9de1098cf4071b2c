"""ASR, refusal rate, bootstrap confidence intervals and per-category breakdowns.

All intervals are percentile bootstraps (``samples`` resamples, seeded: the same inputs give the same numbers).
The headline resamples every benchmark independently in each replicate and takes the mean and the max of the
replicate's rates, so the mean's and the max's intervals carry every benchmark's sampling error.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np


def rate(flags: Sequence[bool]) -> float:
    """The share of true flags (0.0 for no flags)."""
    return float(np.mean(flags)) if len(flags) else 0.0


def _replicates(flags: Sequence[bool], samples: int, rng: np.random.Generator) -> np.ndarray:
    values = np.asarray(flags, dtype=float)
    if values.size == 0:
        return np.zeros(samples)
    return values[rng.integers(0, values.size, size=(samples, values.size))].mean(axis=1)


def bootstrap_ci(flags: Sequence[bool], samples: int = 1000, seed: int = 0, level: float = 0.95) -> list[float]:
    """``[low, high]`` percentile bootstrap interval of ``rate(flags)``."""
    reps = _replicates(flags, samples, np.random.default_rng(seed))
    tail = (1 - level) / 2 * 100
    return [float(np.percentile(reps, tail)), float(np.percentile(reps, 100 - tail))]


def breakdown(flags: Sequence[bool], keys: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{key: {"n", "value"}}`` for every non-empty key (a category, an attack)."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for flag, key in zip(flags, keys, strict=True):
        if key:
            groups[key].append(flag)
    return {key: {"n": len(group), "value": rate(group)} for key, group in sorted(groups.items())}


def summarize(
    flags: Sequence[bool], categories: Sequence[str], attacks: Sequence[str], samples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """One benchmark's numbers: ``n``, ``value``, ``ci``, ``by_category``, ``by_attack``."""
    return {
        "n": len(flags),
        "value": rate(flags),
        "ci": bootstrap_ci(flags, samples, seed),
        "by_category": breakdown(flags, categories),
        "by_attack": breakdown(flags, attacks),
    }


def headline(per_benchmark: dict[str, Sequence[bool]], samples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Unweighted mean and max ASR over benchmarks, each with a bootstrap 95% interval."""
    if not per_benchmark:
        return {"benchmarks": [], "mean": None, "mean_ci": None, "max": None, "max_benchmark": None, "max_ci": None}
    rng = np.random.default_rng(seed)
    names = list(per_benchmark)
    reps = np.stack([_replicates(per_benchmark[n], samples, rng) for n in names])
    rates = {n: rate(per_benchmark[n]) for n in names}
    worst = max(names, key=lambda n: rates[n])
    pct = [2.5, 97.5]
    return {
        "benchmarks": names,
        "mean": float(np.mean(list(rates.values()))),
        "mean_ci": [float(v) for v in np.percentile(reps.mean(axis=0), pct)],
        "max": rates[worst],
        "max_benchmark": worst,
        "max_ci": [float(v) for v in np.percentile(reps.max(axis=0), pct)],
    }
