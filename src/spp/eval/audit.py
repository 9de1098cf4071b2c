"""``spp judge-audit``: how well a judge agrees with labelled responses, overall and per group.

A labels file is JSONL (or CSV/JSON) with ``behavior``, ``response`` and ``label`` (``harmful`` or ``not``; also
``true``/``false``, ``1``/``0``), optional ``prompt`` and ``target``, and any group columns (``model``,
``benchmark``, ...). The judge's ``success`` is its "harmful" call. Metrics (``agreement``): n, accuracy,
precision, recall, F1 and Cohen's kappa, with the confusion counts; a metric whose denominator is zero is ``None``
(never a silent 0). Promise: every labelled row is judged once and counted; a row with a bad label raises naming
its file and line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spp.errors import SppConfigError
from spp.eval.judges import Judge, JudgeInput
from spp.eval.records import Record, pick, read_records

POSITIVE = {"harmful", "true", "1", "yes", "unsafe"}
NEGATIVE = {"not", "not_harmful", "false", "0", "no", "safe"}


def read_labels(path: str) -> list[Record]:
    """The labelled rows of ``path``, each with a boolean ``_harmful``."""
    rows = []
    for record in read_records(path):
        pick(record, ("behavior",), required=True, field="behavior")
        label = str(pick(record, ("label",), required=True, field="label")).strip().lower()
        if label not in POSITIVE | NEGATIVE:
            raise SppConfigError(
                f"label {label!r} is neither harmful nor not", source=record["_source"], fix="label harmful or not"
            )
        rows.append({**record, "response": record.get("response") or "", "_harmful": label in POSITIVE})
    if not rows:
        raise SppConfigError("no labelled rows", source=path)
    return rows


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def agreement(labels: Sequence[bool], predictions: Sequence[bool]) -> dict[str, Any]:
    """Accuracy, precision, recall, F1 and Cohen's kappa of ``predictions`` against ``labels`` (True: harmful)."""
    pairs = list(zip(labels, predictions, strict=True))
    tp = sum(a and b for a, b in pairs)
    tn = sum(not a and not b for a, b in pairs)
    fp = sum(not a and b for a, b in pairs)
    fn = sum(a and not b for a, b in pairs)
    n = len(pairs)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    observed = _ratio(tp + tn, n)
    chance = _ratio((tp + fn) * (tp + fp) + (tn + fp) * (tn + fn), n * n)
    kappa = None if observed is None or chance is None or chance == 1 else (observed - chance) / (1 - chance)
    return {
        "n": n,
        "accuracy": observed,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "kappa": kappa,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def audit(judge: Judge, rows: list[Record], group_by: Sequence[str] = ()) -> dict[str, Any]:
    """Judge every row once; ``{"judge", "overall", "groups": {column: {value: metrics}}, "verdicts"}``."""
    inputs = [
        JudgeInput(str(r["behavior"]), str(r["response"]), str(r.get("prompt") or ""), str(r.get("target") or ""))
        for r in rows
    ]
    verdicts = judge.judge(inputs)
    labels = [r["_harmful"] for r in rows]
    predictions = [v.success for v in verdicts]
    groups: dict[str, dict[str, Any]] = {}
    for column in group_by:
        values = [str(r.get(column, "")) for r in rows]
        if not any(values):
            raise SppConfigError(f"no row has the group column {column!r}", field="group_by")
        groups[column] = {
            value: agreement(
                [lab for lab, v in zip(labels, values, strict=True) if v == value],
                [p for p, v in zip(predictions, values, strict=True) if v == value],
            )
            for value in sorted(set(values))
        }
    describe = judge.describe() if hasattr(judge, "describe") else {"id": judge.id}
    return {
        "judge": describe,
        "overall": agreement(labels, predictions),
        "groups": groups,
        "verdicts": [
            {"source": r["_source"], "label": "harmful" if r["_harmful"] else "not", **v.to_dict()}
            for r, v in zip(rows, verdicts, strict=True)
        ],
    }


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def audit_markdown(report: dict[str, Any]) -> str:
    """The metrics as a markdown table: overall, then one row per group value."""
    judge = report["judge"]
    smoke = " (smoke judge)" if judge.get("smoke") else ""
    lines = [
        f"judge `{judge['id']}`{smoke}",
        "",
        "| group | n | accuracy | precision | recall | F1 | kappa | tp | fp | tn | fn |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def row(name: str, m: dict[str, Any]) -> str:
        scores = " | ".join(_cell(m[k]) for k in ("accuracy", "precision", "recall", "f1", "kappa"))
        return f"| {name} | {m['n']} | {scores} | {m['tp']} | {m['fp']} | {m['tn']} | {m['fn']} |"

    lines.append(row("all", report["overall"]))
    for column, values in report["groups"].items():
        lines += [row(f"{column}={value}", m) for value, m in values.items()]
    return "\n".join(lines) + "\n"
