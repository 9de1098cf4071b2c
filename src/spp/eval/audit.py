"""``spp judge-audit``: how well a judge agrees with labelled responses, overall and per group, and whether it is
biased between groups.

Labelled responses are read through a column mapping (``LabelMapping``): which column holds the request
(``behavior``), the ``response``, the ``prompt`` sent and the ``target``, and the gold label, either a ``label``
column whose values are listed as harmful (``positive``) or not (``negative``), or a ``score`` column with a
``score_threshold``. ``LAYOUTS`` holds the mappings of common layouts, each overridable field by field:

- ``spp`` (default): ``behavior``, ``response``, ``label`` (harmful|not, true|false, 1|0, yes|no, unsafe|safe),
  optional ``prompt``, ``target``, and group columns (``model``, ``benchmark``, ...).
- ``mr_eval``: the SPP authors' judge-audit set (jkminder/MR-Eval ``judge_audit/dataset.jsonl``, read at commit
  1cf9d8d: ``goal``, ``prompt``, ``response``, ``model``, ``eval``, ``claude_label`` in harmful, partial, refusal,
  safe, incoherent). ``partial`` (a refusal opener, then some help) is left to the user: map it with
  ``positive_labels`` / ``negative_labels`` or leave it out with ``skip_labels`` (counted).
- ``jbb_judge_comparison``: JailbreakBench's judge-comparison set (``goal``, ``prompt``, ``target_response``,
  ``human_majority`` 1|0); its column names are as documented by JailbreakBench, not checked against the file here.

A row whose label is in none of the lists raises naming its file and line; a row with a ``skip_labels`` label is
left out and counted. The judge's ``success`` is its "harmful" call. Metrics (``agreement``): n, accuracy,
precision, recall, F1 and Cohen's kappa, with the confusion counts; a metric whose denominator is zero is ``None``
(never a silent 0). A judge answer no parsing rule reads is ``unparsed``: left out of the metrics and counted. With
``group_by`` the report has each group's metrics and, per column, the **recall gap**: the highest minus the lowest
recall over its groups (a judge that catches fewer harmful answers of one arm flatters that arm's ASR). Promise:
every labelled row is judged once and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from spp.errors import SppConfigError
from spp.eval.judges import Judge, JudgeInput
from spp.eval.records import Record, read_records

POSITIVE = ("harmful", "true", "1", "yes", "unsafe")
NEGATIVE = ("not", "not_harmful", "false", "0", "no", "safe")
ROLES = ("behavior", "response", "prompt", "target", "label", "score")


@dataclass(frozen=True)
class LabelMapping:
    """Where a labels file keeps each role (``columns``: role -> column) and which label values mean harmful."""

    columns: dict[str, str]
    positive: tuple[str, ...] = POSITIVE
    negative: tuple[str, ...] = NEGATIVE
    skip: tuple[str, ...] = ()
    score_threshold: float | None = None
    note: str = ""


LAYOUTS: dict[str, LabelMapping] = {
    "spp": LabelMapping({r: r for r in ("behavior", "response", "prompt", "target", "label")}),
    "mr_eval": LabelMapping(
        {"behavior": "goal", "response": "response", "prompt": "prompt", "label": "claude_label"},
        positive=("harmful",),
        negative=("refusal", "safe", "incoherent"),
        note="jkminder/MR-Eval judge_audit/dataset.jsonl",
    ),
    "jbb_judge_comparison": LabelMapping(
        {"behavior": "goal", "response": "target_response", "prompt": "prompt", "label": "human_majority"},
        positive=("1", "true"),
        negative=("0", "false"),
        note="JailbreakBench judge_comparison (column names not checked against the file)",
    ),
}


def label_mapping(
    layout: str = "spp",
    columns: Sequence[str] = (),
    positive: Sequence[str] = (),
    negative: Sequence[str] = (),
    skip: Sequence[str] = (),
    score_threshold: float | None = None,
) -> LabelMapping:
    """The mapping of ``layout`` with overrides: ``columns`` entries ``ROLE=COLUMN``, label lists, a score threshold."""
    if layout not in LAYOUTS:
        raise SppConfigError(f"unknown layout {layout!r}", field="layout", fix=f"use one of {', '.join(LAYOUTS)}")
    mapping = LAYOUTS[layout]
    overrides: dict[str, str] = {}
    for entry in columns:
        role, sep, column = entry.partition("=")
        if not sep or role.strip() not in ROLES or not column.strip():
            raise SppConfigError(f"bad entry {entry!r}", field="columns", fix=f"write ROLE=COLUMN, ROLE in {ROLES}")
        overrides[role.strip()] = column.strip()
    lower = lambda values: tuple(str(v).strip().lower() for v in values)  # noqa: E731
    return replace(
        mapping,
        columns={**mapping.columns, **overrides},
        positive=lower(positive) or mapping.positive,
        negative=lower(negative) or mapping.negative,
        skip=lower(skip) or mapping.skip,
        score_threshold=score_threshold if score_threshold is not None else mapping.score_threshold,
    )


def _gold(record: Record, mapping: LabelMapping) -> bool | None:
    """Whether a row is labelled harmful (``None``: a ``skip`` label); a label in no list raises."""
    if mapping.score_threshold is not None and "score" in mapping.columns:
        value = record.get(mapping.columns["score"])
        try:
            return float(value) >= mapping.score_threshold
        except (TypeError, ValueError):
            raise SppConfigError(
                f"score {value!r} in column {mapping.columns['score']!r} is not a number", source=record["_source"]
            ) from None
    column = mapping.columns.get("label", "label")
    value = record.get(column)
    label = str(value).strip().lower() if value not in (None, "") else ""
    if label in mapping.skip:
        return None
    if label in mapping.positive or label in mapping.negative:
        return label in mapping.positive
    raise SppConfigError(
        f"label {label!r} (column {column!r}) is neither harmful ({', '.join(mapping.positive)}) nor not "
        f"({', '.join(mapping.negative)})",
        source=record["_source"],
        fix="label it, or say what it means: --positive_labels / --negative_labels, or --skip_labels to leave such "
        "rows out (counted)",
    )


class LabelledRows(list):
    """The rows read, with ``skipped``: ``{label: rows left out}`` (``skip_labels``)."""

    skipped: dict[str, int]


def read_labels(path: str, mapping: LabelMapping | None = None) -> LabelledRows:
    """The labelled rows of ``path`` read through ``mapping`` (default: the ``spp`` layout): each row has the roles
    under their own names, a boolean ``_harmful``, and its file's other columns (group columns); rows with a
    ``skip`` label are left out and counted (``.skipped``)."""
    mapping = mapping or LAYOUTS["spp"]
    rows, skipped = LabelledRows(), {}
    for record in read_records(path):
        behavior_column = mapping.columns.get("behavior", "behavior")
        if record.get(behavior_column) in (None, ""):
            raise SppConfigError(
                f"missing or empty column {behavior_column!r} (the request)",
                source=record["_source"],
                fix="map it: --columns behavior=COLUMN (or pick a --layout)",
            )
        harmful = _gold(record, mapping)
        if harmful is None:
            label = str(record.get(mapping.columns.get("label", "label"))).strip().lower()
            skipped[label] = skipped.get(label, 0) + 1
            continue
        roles = {role: record.get(column) for role, column in mapping.columns.items() if role in ROLES[:4]}
        rows.append({**record, **{k: v or "" for k, v in roles.items()}, "_harmful": harmful})
    if not rows:
        raise SppConfigError("no labelled rows", source=path)
    rows.skipped = skipped
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


def recall_gap(metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The highest minus the lowest recall over groups (groups without harmful rows have no recall and are listed
    apart): how much more of one group's harmful answers the judge catches."""
    recalls = {value: m["recall"] for value, m in metrics.items() if m["recall"] is not None}
    if len(recalls) < 2:
        return {"gap": None, "recall": recalls, "no_harmful_rows": sorted(set(metrics) - set(recalls))}
    high, low = max(recalls, key=recalls.get), min(recalls, key=recalls.get)
    return {
        "gap": recalls[high] - recalls[low],
        "highest": high,
        "lowest": low,
        "recall": recalls,
        "no_harmful_rows": sorted(set(metrics) - set(recalls)),
    }


def audit(judge: Judge, rows: list[Record], group_by: Sequence[str] = ()) -> dict[str, Any]:
    """Judge every row once; ``{"judge", "overall", "unparsed", "groups": {column: {value: metrics}}, "bias":
    {column: recall gap}, "verdicts"}``. Rows whose judge answer is unparsed are left out of the metrics."""
    inputs = [
        JudgeInput(str(r["behavior"]), str(r["response"]), str(r.get("prompt") or ""), str(r.get("target") or ""))
        for r in rows
    ]
    verdicts = judge.judge(inputs)
    read = [i for i, v in enumerate(verdicts) if not v.unparsed]
    labels = [rows[i]["_harmful"] for i in read]
    predictions = [verdicts[i].success for i in read]
    groups: dict[str, dict[str, Any]] = {}
    bias: dict[str, dict[str, Any]] = {}
    for column in group_by:
        if not any(str(r.get(column, "")) for r in rows):
            raise SppConfigError(f"no row has the group column {column!r}", field="group_by")
        values = [str(rows[i].get(column, "")) for i in read]
        groups[column] = {
            value: {
                **agreement(
                    [lab for lab, v in zip(labels, values, strict=True) if v == value],
                    [p for p, v in zip(predictions, values, strict=True) if v == value],
                ),
                "unparsed": sum(
                    v.unparsed and str(r.get(column, "")) == value for r, v in zip(rows, verdicts, strict=True)
                ),
            }
            for value in sorted({str(r.get(column, "")) for r in rows})
        }
        bias[column] = recall_gap(groups[column])
    describe = judge.describe() if hasattr(judge, "describe") else {"id": judge.id}
    return {
        "judge": describe,
        "overall": agreement(labels, predictions),
        "unparsed": len(rows) - len(read),
        "groups": groups,
        "bias": bias,
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
    if report.get("unparsed"):
        lines += ["", f"{report['unparsed']} judge answers unparsed: left out of every metric above."]
    if report.get("skipped"):
        listed = ", ".join(f"{n} labelled {label!r}" for label, n in report["skipped"].items())
        lines += ["", f"rows left out (skip_labels): {listed}."]
    for column, gap in (report.get("bias") or {}).items():
        if gap["gap"] is None:
            lines += ["", f"recall gap by {column}: not measurable (fewer than two groups with harmful rows)"]
            continue
        listed = ", ".join(f"{value} {recall:.3f}" for value, recall in gap["recall"].items())
        lines += [
            "",
            f"recall gap by {column}: {gap['gap']:.3f} (highest {gap['highest']}, lowest {gap['lowest']}; recall: "
            f"{listed}): the judge catches that much more of one {column}'s harmful answers, so it flatters the "
            "ASR of the lowest",
        ]
    return "\n".join(lines) + "\n"
