"""Figure 1 of a release: mean ASR per arm with its CI, measured by spp, beside the paper's figures "as reported".

``write_figure(table, release, out)`` writes ``figure1.md`` and ``figure1.png`` from ``spp compare``'s table and a
release registry's ``reported`` section (``spp.releases``). Promises:
- A reported figure is shown only for an arm the registry gives one for, always labelled "as reported" with its
  source, never mixed into a measured cell; an arm with none shows "–".
- The relative change against the registry's ``baseline`` arm is computed from the measured means (and shown beside
  the reported one); with no measured baseline row it is "–".
- The judge, the benchmarks averaged and the registry's ``verified`` line are written above the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spp.eval.report import ci_text, pct


def _arm(row: dict[str, Any]) -> str:
    return row.get("arm") or row["model"]


def _ordered(rows: list[dict[str, Any]], release: Any) -> list[dict[str, Any]]:
    order = list(release.models)
    return sorted(rows, key=lambda r: order.index(_arm(r)) if _arm(r) in order else len(order))


def _change(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "–"
    change = value / base - 1
    return f"{'−' if change < 0 else '+'}{abs(100 * change):.0f}%"


def figure_rows(table: dict[str, Any], release: Any) -> list[dict[str, Any]]:
    """One row per arm: measured mean and CI, measured change vs the baseline arm, reported mean and change."""
    reported = release.reported or {}
    baseline = reported.get("baseline")
    rows = _ordered(table["rows"], release)
    base = next((r["mean"] for r in rows if _arm(r) == baseline), None)
    out = []
    for row in rows:
        arm = _arm(row)
        reduction = (reported.get("reduction_vs_baseline") or {}).get(arm)
        out.append(
            {
                "arm": arm,
                "model": row["model"],
                "external": bool(row.get("external")),
                "mean": row["mean"],
                "mean_ci": row["mean_ci"],
                "change": _change(row["mean"], base) if arm != baseline else "–",
                "reported_mean": (reported.get("mean_asr") or {}).get(arm),
                "reported_change": f"−{100 * reduction:.0f}%" if reduction is not None else "–",
                "smoke_judge": bool(row.get("smoke_judge")),
            }
        )
    return out


def figure_markdown(table: dict[str, Any], release: Any) -> str:
    reported = release.reported or {}
    rows = figure_rows(table, release)
    baseline = reported.get("baseline", "baseline")
    judges = "; ".join(dict.fromkeys(r["judge"] for r in table["rows"]))
    smoke = any(r["smoke_judge"] for r in rows)
    benchmarks = table.get("headline_benchmarks") or table["benchmarks"]
    header = ["arm", "model", "mean ASR (%)", "95% CI", f"vs {baseline}",
              "mean ASR (%), as reported", f"vs {baseline}, as reported"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [
            r["arm"],
            r["model"] + (" (external)" if r["external"] else ""),
            pct(r["mean"]),
            ci_text(r["mean_ci"]),
            r["change"],
            pct(r["reported_mean"]) if r["reported_mean"] is not None else "–",
            r["reported_change"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        f"# Figure 1: mean ASR per arm ({release.name})",
        "",
        f"Measured by spp: the unweighted mean ASR over {', '.join(benchmarks)} per model, 95% cluster-bootstrap CI; "
        f"judged by {judges}"
        + (" (smoke judge: a refusal-phrase check, not a headline figure)" if smoke else "")
        + ".",
        f"As reported: {reported.get('metric', 'the paper’s figure')}, from {reported.get('source', release.paper)}; "
        "quoted from the release registry, not measured here.",
        f"Release registry {release.path}: {release.verified}",
        "",
    ]
    return "\n".join(notes + lines) + "\n"


def plot_figure(table: dict[str, Any], release: Any, path: str | Path, title: str) -> Path:
    """Bars: measured mean ASR per arm with CI whiskers; hollow diamonds: the reported figures ("as reported")."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = figure_rows(table, release)
    xs = list(range(len(rows)))
    means = [100 * (r["mean"] or 0) for r in rows]
    lows = [m - 100 * (r["mean_ci"] or [0, 0])[0] if r["mean_ci"] else 0 for m, r in zip(means, rows, strict=True)]
    highs = [100 * (r["mean_ci"] or [0, 0])[1] - m if r["mean_ci"] else 0 for m, r in zip(means, rows, strict=True)]
    fig, ax = plt.subplots(figsize=(1.4 * len(rows) + 2.5, 4.2))
    ax.bar(xs, means, yerr=[lows, highs], capsize=4, color="C0", label="measured by spp (95% CI)")
    points = [(x, 100 * r["reported_mean"]) for x, r in zip(xs, rows, strict=True) if r["reported_mean"] is not None]
    if points:
        px, py = zip(*points, strict=True)
        ax.scatter(px, py, marker="D", s=60, facecolors="none", edgecolors="black", zorder=3,
                   label=f"as reported ({(release.reported or {}).get('source', release.paper)})")  # fmt: skip
    baseline = (release.reported or {}).get("baseline", "baseline")
    for x, r in zip(xs, rows, strict=True):
        if r["reported_mean"] is not None:
            change = f", {r['reported_change']} vs {baseline}" if r["reported_change"] != "–" else ""
            ax.annotate(f"{100 * r['reported_mean']:.1f}%{change}", (x, 100 * r["reported_mean"]),
                        xytext=(8, 4), textcoords="offset points", fontsize="x-small")  # fmt: skip
    ax.set_xticks(xs, [r["arm"] for r in rows])
    ax.set_ylabel("mean ASR (%)")
    smoke = " (smoke judge)" if any(r["smoke_judge"] for r in rows) else ""
    ax.set_title(f"{title}{smoke}", fontsize="medium")
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def write_figure(table: dict[str, Any], release: Any, out: Path, title: str) -> dict[str, Path]:
    """Write ``figure1.md`` and ``figure1.png`` into ``out``; returns them."""
    files = {"figure_markdown": out / "figure1.md", "figure_png": out / "figure1.png"}
    files["figure_markdown"].write_text(figure_markdown(table, release), encoding="utf-8")
    plot_figure(table, release, files["figure_png"], title)
    return files
