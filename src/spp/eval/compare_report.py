"""The table and the chart of ``spp compare``: ``comparison.md`` (one row per model, every cell with its unparsed
count, forced differences marked ``†`` and listed) and the PNG (mean ASR with CI whiskers, and per benchmark)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.eval.report import ci_text, pct


def _cell(row: dict[str, Any], name: str, marked: set[str]) -> str:
    if name not in row["benchmarks"]:
        return "–"
    b = row["benchmarks"][name]
    unparsed = f" ({b['unparsed']} unparsed)" if b.get("unparsed") else ""
    return pct(b["value"]) + unparsed + (" †" if name in marked else "")


def comparison_markdown(table: dict[str, Any]) -> str:
    labels = table.get("labels") or {}
    header = ["model", "judge", "mean ASR (%)", "95% CI", "max (%)", *(labels.get(b, b) for b in table["benchmarks"])]
    header.append("probe recall (%)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table["rows"]:
        mark = set(row.get("marked") or ())
        cells = [
            row["model"]
            + (" (other data view)" if row["model"] in table.get("unmatched", []) else "")
            + (" (external)" if row.get("external") else ""),
            row["judge"] + (" (smoke judge)" if row.get("smoke_judge") else ""),
            pct(row["mean"]) + (" †" if "mean" in mark else ""),
            ci_text(row["mean_ci"]),
            f"{pct(row['max'])} ({row['max_benchmark'] or '–'})",
        ]
        cells += [_cell(row, b, mark) for b in table["benchmarks"]]
        cells.append(pct(row["probes"]))
        lines.append("| " + " | ".join(cells) + " |")
    judges = dict.fromkeys(
        row["judge"]
        + (" (smoke judge: a refusal-phrase check, not a headline figure)" if row.get("smoke_judge") else "")
        for row in table["rows"]
    )
    lines = [f"Judged by: {'; '.join(judges)}", "", *lines]
    lines += [
        "",
        "A rate leaves out its unparsed items (judge answers no parsing rule could read), counted in the cell.",
    ]
    notes = table.get("differences") or []
    if notes:
        lines += ["", "† compared with --force although these differ:", ""] + [f"- {n}" for n in notes]
    if any(row.get("external") for row in table["rows"]):
        lines += [
            "",
            "(external): a model without spp.json (a released or third-party model), compared on the eval settings; "
            "its pretraining data and post-training are not spp's, so its SFT hash and data view are not checked.",
        ]
    if table.get("unmatched"):
        lines += [
            "",
            "**Not data-matched (forced):** the rows marked 'other data view' were pretrained on a different data "
            "view (data_view_hash) than the first row; their differences are not the arm's alone.",
        ]
    return "# Comparison\n\n" + "\n".join(lines) + "\n"


def plot(table: dict[str, Any], path: str | Path, title: str) -> Path:
    """Left: mean ASR per model with CI whiskers; right: per-benchmark bars per model."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise SppConfigError("the chart needs matplotlib", fix="pip install 'spp[report]'") from err
    import numpy as np

    rows = table["rows"]
    names = [r["model"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [1, 2]})
    means = np.array([100 * (r["mean"] or 0) for r in rows])
    cis = np.array([[100 * c for c in (r["mean_ci"] or [0, 0])] for r in rows])
    left.bar(range(len(rows)), means, yerr=[means - cis[:, 0], cis[:, 1] - means], capsize=4, color="C0")
    left.set_xticks(range(len(rows)), names, rotation=20, ha="right")
    left.set_ylabel("mean ASR (%)")
    left.set_title(title)
    benchmarks = table["benchmarks"]
    width = 0.8 / max(1, len(rows))
    for k, row in enumerate(rows):
        values = [100 * row["benchmarks"].get(b, {}).get("value", 0) for b in benchmarks]
        x = np.arange(len(benchmarks)) + k * width
        right.bar(x, values, width, label=row["model"])
        for xi, value, b in zip(x, values, benchmarks, strict=True):
            unparsed = row["benchmarks"].get(b, {}).get("unparsed", 0)
            if unparsed:  # the count a rate leaves out, on its bar
                right.annotate(f"{unparsed} unparsed", (xi, value), ha="center", va="bottom", fontsize="x-small")
    labels = [(table.get("labels") or {}).get(b, b) for b in benchmarks]
    right.set_xticks(np.arange(len(benchmarks)) + width * (len(rows) - 1) / 2, labels, rotation=20, ha="right")
    right.set_ylabel("rate (%)")
    right.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
