"""What ``spp demo`` writes and prints after the run: the method report (``comparison/demo_report.md`` and
``demo.png``), the emergence curves of the base models' ``step-*`` branches (``comparison/curves/``), the
comparison table, the hub export, and what the numbers do not mean.

The method report reads what the pipeline measured; it measures nothing itself except through ``spp curves``:

- held-out reflection-token loss: the last ``heldout_reflection_loss`` that ``ReflectionLossCallback`` logged in the
  arm's final checkpoint (``trainer_state.json``), on the same held-out windows for every arm;
- persona probes: ``probes`` of the arm's ``results.json`` (planted facts and the held-out control fact);
- refusal: the share of responses the eval's judge marked ``refused`` (``verdicts.jsonl``) on the toy set's
  held-out harmful requests (``advbench``) and its benign prompts (``xstest``), after the identical SFT, with the
  share of degenerate responses beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spp.experiment.config import ExperimentConfig

HARMFUL, BENIGN = "advbench", "xstest"
CAVEAT = (
    "Tiny demo models (~1M parameters, ~230k tokens each, offline template reflections, a keyword smoke judge): "
    "these numbers show what the pipeline measures and the first signs of the method at toy scale, not the "
    "paper's result."
)


def _last_logged(checkpoints: Path, key: str) -> tuple[float | None, int | None]:
    """The last value of ``key`` in the newest ``checkpoint-*/trainer_state.json`` and the step it was logged at."""
    states = sorted(checkpoints.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name[11:]))
    if not states:
        return None, None
    history = json.loads(states[-1].read_text(encoding="utf-8")).get("log_history", [])
    found = [(row[key], row.get("step")) for row in history if key in row]
    return found[-1] if found else (None, None)


def _refusals(verdicts: Path, benchmark: str) -> dict[str, Any]:
    rows = []
    if verdicts.is_file():
        rows = [json.loads(line) for line in verdicts.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r.get("benchmark") == benchmark]
    n = len(rows)
    degenerate = sum("degenerate" in str(r.get("detail", "")) for r in rows)
    return {
        "n": n,
        "refusal": sum(bool(r.get("refused")) for r in rows) / n if n else None,
        "degenerate": degenerate / n if n else None,
        "judge": rows[0].get("judge") if rows else None,
    }


def arm_measures(root: Path, arm: str) -> dict[str, Any]:
    """The method's measures for one arm, read from the run's outputs (``None`` where a file is missing)."""
    loss, step = _last_logged(root / "models" / arm, "heldout_reflection_loss")
    doc_loss, _ = _last_logged(root / "models" / arm, "heldout_document_loss")
    results_file = root / "results" / arm / "results.json"
    results = json.loads(results_file.read_text(encoding="utf-8")) if results_file.is_file() else {}
    probes = results.get("probes") or {}
    verdicts = root / "results" / arm / "verdicts.jsonl"
    return {
        "reflection_loss": loss,
        "document_loss": doc_loss,
        "loss_step": step,
        "probe_planted": (probes.get("planted") or {}).get("recall"),
        "probe_planted_n": (probes.get("planted") or {}).get("n"),
        "probe_control": (probes.get("held_out") or {}).get("recall"),
        "probe_control_n": (probes.get("held_out") or {}).get("n"),
        "harmful": _refusals(verdicts, HARMFUL),
        "benign": _refusals(verdicts, BENIGN),
        "mean_asr": (results.get("headline") or {}).get("mean"),
        "judge": results.get("judge"),
    }


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def method_markdown(measures: dict[str, dict[str, Any]], curves_md: str | None) -> str:
    arms = list(measures)
    first = next(iter(measures.values()))
    judge = first["harmful"]["judge"] or first["judge"] or "–"
    rows = [
        ("held-out reflection-token loss (nats, lower = models unseen reflections better)",
         [_num(m["reflection_loss"]) for m in measures.values()]),
        ("held-out document-token loss (nats, same windows)", [_num(m["document_loss"]) for m in measures.values()]),
        (f"probe recall, planted identity facts (n={first['probe_planted_n']})",
         [_pct(m["probe_planted"]) for m in measures.values()]),
        (f"probe recall, held-out control fact (n={first['probe_control_n']}; should stay ~0)",
         [_pct(m["probe_control"]) for m in measures.values()]),
        (f"refused, held-out harmful requests ({HARMFUL}, n={first['harmful']['n']})",
         [_pct(m["harmful"]["refusal"]) for m in measures.values()]),
        (f"refused, benign prompts ({BENIGN}, n={first['benign']['n']})",
         [_pct(m["benign"]["refusal"]) for m in measures.values()]),
        ("degenerate responses, harmful / benign",
         [f"{_pct(m['harmful']['degenerate'])} / {_pct(m['benign']['degenerate'])}" for m in measures.values()]),
        ("mean ASR over the attack benchmarks (smoke judge)", [_pct(m["mean_asr"]) for m in measures.values()]),
    ]  # fmt: skip
    lines = [
        "# spp demo: what the method shows on tiny demo models",
        "",
        CAVEAT,
        "",
        "| measure | " + " | ".join(arms) + " |",
        "|---|" + "---|" * len(arms),
        *("| " + " | ".join([name, *cells]) + " |" for name, cells in rows),
        "",
        f"Refusal judged by: {judge} (a refusal-phrase smoke judge; a degenerate response is neither a refusal nor a "
        "success). Reflection loss: the pretraining callback's last value on the same held-out windows for every "
        "arm. Probes: the persona's identity questions after the identical SFT, which contains no identity fact.",
        "",
        "![method](demo.png)",
    ]
    if curves_md:
        lines += ["", "## Across checkpoints (spp curves)", "", "![curves](curves/curves.png)", ""]
        lines += [line for line in curves_md.splitlines() if not line.startswith("# ")]
    return "\n".join(lines).rstrip() + "\n"


def plot_method(measures: dict[str, dict[str, Any]], path: Path) -> Path:
    """Three panels at a glance: reflection loss, probe recall (planted vs control), refusal (harmful vs benign)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    arms = list(measures)
    x = np.arange(len(arms))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    loss = [measures[a]["reflection_loss"] or 0 for a in arms]
    bars = axes[0].bar(x, loss, color=[f"C{i}" for i in range(len(arms))])
    axes[0].bar_label(bars, fmt="%.2f")
    axes[0].set_xticks(x, arms)
    axes[0].set_ylabel("nats")
    axes[0].set_title("held-out reflection-token loss\n(lower = better)")
    for ax, keys, labels, title in (
        (axes[1], ("probe_planted", "probe_control"), ("planted facts", "held-out control"), "persona probe recall"),
        (axes[2], ("harmful", "benign"), ("harmful (held out)", "benign"), "refused after identical SFT"),
    ):
        for k, (key, label) in enumerate(zip(keys, labels, strict=True)):
            values = [measures[a][key] if isinstance(measures[a][key], (int, float)) or measures[a][key] is None
                      else measures[a][key]["refusal"] for a in arms]  # fmt: skip
            bars = ax.bar(x + (k - 0.5) * 0.38, [100 * (v or 0) for v in values], 0.38, label=label)
            ax.bar_label(bars, labels=["–" if v is None else f"{100 * v:.0f}%" for v in values])
        ax.set_xticks(x, arms)
        ax.set_ylim(0, 100)
        ax.set_ylabel("%")
        ax.set_title(title)
        ax.legend(fontsize="small")
    fig.suptitle("spp demo: tiny demo models (toy scale, not the paper's result)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_curves(config: ExperimentConfig) -> str | None:
    """``spp curves`` on every arm's base-model export (cached per branch); its markdown, or ``None`` without one."""
    from spp.eval.curves import CurvesConfig, write_curves
    from spp.hub.export import is_export

    root = config.root
    models = [root / "hub" / "models" / f"{config.name}-{arm}" for arm in config.arms]
    models = [m for m in models if is_export(m)]
    if not models:
        return None
    out = root / "comparison" / "curves"
    write_curves(
        CurvesConfig(
            models=[str(m) for m in models],
            measures=["reflection_loss", "probes"],
            corpus=str(root / "data" / "augmented"),
            heldout_windows=16,
            title="Emergence across checkpoints (tiny demo models)",
            output_dir=str(out),
        )
    )
    return (out / "curves.md").read_text(encoding="utf-8")


def write_demo_report(config: ExperimentConfig) -> Path | None:
    """``comparison/demo_report.md`` + ``demo.png`` (+ ``curves/``) from the run's outputs; ``None`` before eval."""
    root = config.root
    if not all((root / "results" / arm / "results.json").is_file() for arm in config.arms):
        return None
    measures = {arm: arm_measures(root, arm) for arm in config.arms}
    out = root / "comparison"
    out.mkdir(parents=True, exist_ok=True)
    curves_md = run_curves(config)
    plot_method(measures, out / "demo.png")
    report = out / "demo_report.md"
    report.write_text(method_markdown(measures, curves_md), encoding="utf-8")
    return report


def print_demo_summary(
    config: ExperimentConfig, statuses: dict[str, str], seconds: float, method: Path | None = None
) -> None:
    """The wall time, the method report (``write_demo_report``), the comparison table and the local hub."""
    from spp.hub.export import LocalExport, is_export

    root = config.root
    report = root / "comparison" / "comparison.md"
    done = sum(s == "done" for s in statuses.values())
    print(f"\nspp demo finished in {seconds:.0f} s wall time ({done} steps done)")
    if method is not None:
        print(f"\n{method.read_text(encoding='utf-8').strip()}\n")
    if report.is_file():
        print(f"\n{report.read_text(encoding='utf-8').strip()}\n")
    hub = root / "hub"
    for kind in ("datasets", "models"):
        for repo in sorted((hub / kind).glob("*")) if (hub / kind).is_dir() else []:
            if is_export(repo):
                refs = LocalExport(repo, repo_type=kind[:-1]).refs()
                print(f"hub {kind[:-1]:<7} {repo}  refs: {', '.join(refs)}")
    last = LocalExport(hub / "models" / f"{config.name}-{config.arms[-1]}").checkpoints() if method else []
    print(f"\n{CAVEAT}")
    print(f"Report: {method or report}")
    if last:
        print(
            f"Open a checkpoint branch: spp download {hub / 'models' / (config.name + '-' + config.arms[-1])}"
            f" --revision {last[0]} --to /tmp/{last[0]}"
        )
