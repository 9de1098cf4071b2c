"""The table and the plot of ``spp curves``: ``curves.md`` (one row per branch) and ``curves.png`` (one panel per
metric, tokens seen on x, one line per arm)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

METRIC_TITLES = {
    "heldout_reflection_loss": "held-out reflection-token loss (nats)",
    "heldout_document_loss": "held-out document-token loss (nats)",
    "probe_recall": "probe recall, planted facts (%)",
    "control_recall": "probe recall, held-out control (%)",
    "asr": "mean ASR (%)",
}
PERCENT = {"probe_recall", "control_recall", "asr"}


def _metrics(rows: list[dict[str, Any]]) -> list[str]:
    return [m for m in METRIC_TITLES if any(r.get(m) is not None for r in rows)]


def _cell(metric: str, value: Any) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.0f}" if metric in PERCENT else f"{value:.3f}"


def curves_markdown(curves: dict[str, Any]) -> str:
    rows = curves["rows"]
    metrics = _metrics(rows)
    header = ["arm", "branch", "tokens seen", *(METRIC_TITLES[m] for m in metrics)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    skipped = (curves.get("not_matching") or {}).get("refs") or {}
    if any(skipped.values()):
        listing = "; ".join(f"{Path(m).name}: {', '.join(refs)}" for m, refs in skipped.items() if refs)
        pattern = curves.get("branch_pattern")
        lines = [f"Refs not matching branch_pattern `{pattern}` (not evaluated): {listing}", "", *lines]
    for r in rows:
        tokens = f"{r['tokens_seen']:,}" if r["tokens_seen"] is not None else "–"
        lines.append(
            "| " + " | ".join([r["label"], r["branch"], tokens, *(_cell(m, r.get(m)) for m in metrics)]) + " |"
        )
    judges = sorted({r["asr_judge"] for r in rows if r.get("asr_judge")})
    notes = [f"ASR judged by: {', '.join(judges)}"] if judges else []
    return "\n".join(["# Emergence curves", "", *notes, *([""] if notes else []), *lines]) + "\n"


def plot_curves(curves: dict[str, Any], path: str | Path, title: str) -> Path:
    """One panel per metric, x = tokens seen (step when unknown), one line per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = curves["rows"]
    metrics = _metrics(rows) or ["heldout_reflection_loss"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    use_tokens = all(r["tokens_seen"] is not None for r in rows)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for label in dict.fromkeys(r["label"] for r in rows):
            points = [
                (r["tokens_seen"] if use_tokens else r["step"], r[metric])
                for r in rows
                if r["label"] == label and r.get(metric) is not None
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                ys = [100 * y for y in ys] if metric in PERCENT else list(ys)
                ax.plot(xs, ys, marker="o", label=label)
        if metric in PERCENT:
            ax.set_ylim(-5, 105)
        ax.set_title(METRIC_TITLES[metric], fontsize="medium")
        ax.set_xlabel("tokens seen" if use_tokens else "step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
