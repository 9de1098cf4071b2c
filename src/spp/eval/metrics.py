"""ASR, refusal rate, bootstrap confidence intervals and per-category breakdowns.

A benchmark's rate is the share of true flags, or, with ``groups`` (JailbreakBench: the attack method), the
unweighted mean of the per-group rates. All intervals are percentile bootstraps (``samples`` resamples, seeded: the
same inputs give the same numbers). With ``clusters`` (the behavior of each item) a replicate resamples behaviors,
not items: DAN's 16 templates of one behavior, or JBB's five methods of one behavior, are not 16 or 5 independent
draws, and resampling items would make the interval too narrow. The headline resamples every benchmark
independently in each replicate and takes the mean and the max of the replicate's rates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def rate(flags: Sequence[bool]) -> float:
    """The share of true flags (0.0 for no flags)."""
    return float(np.mean(flags)) if len(flags) else 0.0


@dataclass(frozen=True)
class Outcomes:
    """One benchmark's per-item flags, with optional ``clusters`` (resampling unit) and ``groups`` (averaged)."""

    flags: Sequence[bool]
    clusters: Sequence[str] | None = None
    groups: Sequence[str] | None = None

    def value(self) -> float:
        if not self.groups:
            return rate(self.flags)
        by_group: dict[str, list[bool]] = defaultdict(list)
        for flag, group in zip(self.flags, self.groups, strict=True):
            by_group[group].append(flag)
        return float(np.mean([rate(v) for v in by_group.values()])) if by_group else 0.0

    def replicates(self, samples: int, rng: np.random.Generator) -> np.ndarray:
        """``samples`` bootstrap replicates of ``value()``."""
        flags = np.asarray(self.flags, dtype=float)
        if flags.size == 0:
            return np.zeros(samples)
        if self.clusters:
            _, cluster_of = np.unique(np.asarray(self.clusters), return_inverse=True)
            n_clusters = int(cluster_of.max()) + 1
            draws = rng.integers(0, n_clusters, size=(samples, n_clusters))
            counts = np.stack([np.bincount(row, minlength=n_clusters) for row in draws])
            weights = counts[:, cluster_of].astype(float)  # (samples, items): how often each item's cluster was drawn
        else:
            draws = rng.integers(0, flags.size, size=(samples, flags.size))
            weights = np.stack([np.bincount(row, minlength=flags.size) for row in draws]).astype(float)
        if not self.groups:
            return (weights * flags).sum(1) / np.maximum(weights.sum(1), 1e-12)
        _, group_of = np.unique(np.asarray(self.groups), return_inverse=True)
        per_group = []
        for g in range(int(group_of.max()) + 1):
            w = weights[:, group_of == g]
            total = w.sum(1)
            # a replicate that drew no item of a group leaves it out of that replicate's mean
            per_group.append(np.where(total > 0, (w * flags[group_of == g]).sum(1) / np.maximum(total, 1e-12), np.nan))
        return np.nanmean(np.stack(per_group), axis=0)


def _as_outcomes(value: Outcomes | Sequence[bool]) -> Outcomes:
    return value if isinstance(value, Outcomes) else Outcomes(list(value))


def bootstrap_ci(
    flags: Outcomes | Sequence[bool], samples: int = 1000, seed: int = 0, level: float = 0.95
) -> list[float]:
    """``[low, high]`` percentile bootstrap interval of the rate of ``flags`` (an ``Outcomes`` or plain flags)."""
    reps = _as_outcomes(flags).replicates(samples, np.random.default_rng(seed))
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
    flags: Sequence[bool],
    categories: Sequence[str],
    attacks: Sequence[str],
    samples: int = 1000,
    seed: int = 0,
    outcomes: Outcomes | None = None,
) -> dict[str, Any]:
    """One benchmark's numbers: ``n``, ``value``, ``ci``, ``by_category``, ``by_attack`` (``outcomes``: how the value
    and its interval are computed; plain pooled flags by default)."""
    outcomes = outcomes or Outcomes(list(flags))
    return {
        "n": len(flags),
        "value": outcomes.value(),
        "ci": bootstrap_ci(outcomes, samples, seed),
        "aggregate": "mean_over_groups" if outcomes.groups else "pooled",
        "bootstrap": "clusters" if outcomes.clusters else "items",
        "by_category": breakdown(flags, categories),
        "by_attack": breakdown(flags, attacks),
    }


def headline(
    per_benchmark: dict[str, Outcomes | Sequence[bool]], samples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Unweighted mean and max ASR over benchmarks, each with a bootstrap 95% interval."""
    if not per_benchmark:
        return {"benchmarks": [], "mean": None, "mean_ci": None, "max": None, "max_benchmark": None, "max_ci": None}
    rng = np.random.default_rng(seed)
    names = list(per_benchmark)
    outcomes = {n: _as_outcomes(per_benchmark[n]) for n in names}
    reps = np.stack([outcomes[n].replicates(samples, rng) for n in names])
    rates = {n: outcomes[n].value() for n in names}
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
