"""The Figure-1 table: measured means and their change against the registry's baseline arm, beside the registry's
reported figures, which are never mixed into a measured cell."""

from __future__ import annotations

from pathlib import Path

from spp.eval.reported import figure_markdown, figure_rows
from spp.releases import load_release

REGISTRY = Path(__file__).parents[2] / "recipes" / "releases" / "dlab-spp.yaml"


def _row(arm: str, mean: float) -> dict:
    return {"model": f"{arm}@main", "arm": arm, "mean": mean, "mean_ci": [mean / 2, mean * 2], "external": True,
            "judge": "llm:judge", "smoke_judge": False}  # fmt: skip


def test_rows_follow_the_registry_order_and_changes_are_computed_from_measured_means():
    release = load_release(str(REGISTRY))
    table = {"rows": [_row("t0", 0.02), _row("mt", 0.03), _row("vanilla", 0.05)], "benchmarks": ["advbench"]}
    rows = {r["arm"]: r for r in figure_rows(table, release)}
    assert list(rows) == ["vanilla", "t0", "mt"]
    assert rows["t0"]["change"] == "−60%" and rows["mt"]["change"] == "−40%" and rows["vanilla"]["change"] == "–"
    assert rows["t0"]["reported_mean"] == 0.017 and rows["t0"]["reported_change"] == "−63%"
    assert rows["mt"]["reported_mean"] is None and rows["mt"]["reported_change"] == "–"
    text = figure_markdown(table, release)
    assert "| t0 | t0@main (external) | 2.0 | [1.0, 4.0] | −60% | 1.7 | −63% |" in text
    assert "| mt | mt@main (external) | 3.0 | [1.5, 6.0] | −40% | – | – |" in text
    assert "UNVERIFIED" in text and "not measured here" in text


def test_without_a_measured_baseline_no_change_is_shown():
    release = load_release("dlab-spp")  # by name: recipes/releases/dlab-spp.yaml of the checkout
    rows = figure_rows({"rows": [_row("t0", 0.02)], "benchmarks": ["advbench"]}, release)
    assert rows[0]["change"] == "–" and rows[0]["reported_change"] == "−63%"
