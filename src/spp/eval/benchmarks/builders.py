"""Builders from a benchmark's records to ``EvalItem`` s: direct requests, DAN templates, JailbreakBench artifacts,
HarmBench test cases, XSTest's safe prompts (see each benchmark in ``spp.eval.benchmarks.definitions``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from spp.errors import SppConfigError
from spp.eval.benchmarks.registry import BENCHMARKS, FileRole
from spp.eval.items import EvalItem
from spp.eval.records import Record, pick
from spp.eval.transforms import TemplateWrap

logger = logging.getLogger("spp.eval")


def _fields(record: Record, role: FileRole) -> dict[str, Any]:
    return {
        name: pick(record, names, required=name in role.required, field=name) for name, names in role.columns.items()
    }


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


# ---- builders -----------------------------------------------------------------------------------------------------


def _direct(name: str, role: str = "behaviors") -> Callable[[dict[str, list[Record]]], list[EvalItem]]:
    def build(records: dict[str, list[Record]]) -> list[EvalItem]:
        spec = BENCHMARKS[name].files[role]
        items = []
        for i, record in enumerate(records[role]):
            row = _fields(record, spec)
            behavior = _text(row.get("behavior") or row.get("prompt"))
            context = _text(row.get("context"))
            prompt = _text(row.get("prompt") or row.get("test_case")) or behavior
            if context:
                prompt = f"{context}\n\n---\n\n{prompt}"
            items.append(
                EvalItem(
                    benchmark=name,
                    id=f"{name}-{_text(row.get('id')) or i}",
                    behavior=behavior,
                    prompt=prompt,
                    category=_text(row.get("category")),
                    target=_text(row.get("target")),
                    attack=_text(row.get("attack")),
                    source=record["_source"],
                )
            )
        return items

    return build


def _dan(records: dict[str, list[Record]], options: dict[str, Any]) -> list[EvalItem]:
    """Every kept template x every behavior: template + ``separator`` + behavior (or the ``{behavior}`` slot)."""
    behaviors = _direct("dan")(records)
    role = BENCHMARKS["dan"].files["templates"]
    excluded = set(options.get("exclude_templates") or ())
    templates, seen = [], set()
    for i, record in enumerate(records["templates"]):
        row = _fields(record, role)
        template_id = _text(row.get("id")) or f"tpl{i}"
        seen.add(template_id)
        if template_id not in excluded:
            templates.append((template_id, str(row["template"])))
    missing = sorted(excluded - seen)
    if missing and records["templates"]:
        logger.info("dan: excluded templates %s are not in the templates file", missing)
    logger.info(
        "dan: %d templates (%d excluded) x %d behaviors", len(templates), len(seen) - len(templates), len(behaviors)
    )
    return TemplateWrap(tuple(templates), separator=options.get("separator", "\n"))(behaviors)


def _artifacts(records: dict[str, list[Record]], options: dict[str, Any]) -> list[EvalItem]:
    """JailbreakBench artifacts, one item per (method, behavior). A row whose attack found no prompt
    (``prompt: null``) is an item marked ``extra["null_prompt"]`` (scored as a failed attack, never sent) with
    ``null_prompt: failure``, or left out with ``null_prompt: skip``."""
    role = BENCHMARKS["jbb_artifacts"].files["artifacts"]
    keep_null = options.get("null_prompt", "failure") == "failure"
    items, skipped = [], 0
    for i, record in enumerate(records["artifacts"]):
        row = _fields(record, role)
        null = not _text(row.get("prompt"))
        if null and not keep_null:
            skipped += 1
            continue
        method = _text(row.get("attack")) or _text((record.get("_file") or {}).get("parameters", {}).get("method"))
        items.append(
            EvalItem(
                benchmark="jbb_artifacts",
                id=f"{method or 'artifact'}-{_text(row.get('id')) or i}",
                behavior=_text(row["behavior"]),
                prompt=_text(row.get("prompt")),
                category=_text(row.get("category")),
                attack=method,
                source=record["_source"],
                extra={"null_prompt": True} if null else {},
            )
        )
    if skipped:
        logger.warning("jbb_artifacts: %d rows without a prompt left out (null_prompt: skip)", skipped)
    return items


def _harmbench(records: dict[str, list[Record]]) -> list[EvalItem]:
    """HarmBench with an attack's ``test_cases.json``: one item per test case, matched to its behavior by
    ``BehaviorID`` (``check_inputs`` has made sure the test cases are there)."""
    cases = records["test_cases"]
    role = BENCHMARKS["harmbench"].files["behaviors"]
    behaviors: dict[str, dict[str, Any]] = {}
    for record in records["behaviors"]:
        row = _fields(record, role)
        behavior_id = _text(row.get("id"))
        if not behavior_id:
            raise SppConfigError(
                "a behavior without BehaviorID cannot be matched to test cases",
                source=record["_source"],
                fix="use HarmBench's behaviors CSV (it has a BehaviorID column)",
            )
        behaviors[behavior_id] = row
    items = []
    for case in cases:
        row = behaviors.get(case["BehaviorID"])
        if row is None:
            raise SppConfigError(
                f"test cases for BehaviorID {case['BehaviorID']!r}, which the behaviors file does not have",
                source=case["_source"],
                fix="pass the behaviors CSV that these test cases were generated from",
            )
        items.append(
            EvalItem(
                benchmark="harmbench",
                id=f"harmbench-{case['BehaviorID']}-{case['index']}",
                behavior=_text(row["behavior"]),
                prompt=_text(case["test_case"]),
                category=_text(row.get("category")),
                attack="test_case",
                source=case["_source"],
            )
        )
    untested = len(behaviors) - len({case["BehaviorID"] for case in cases})
    if untested:
        logger.info("harmbench: %d behaviors have no test case and are not evaluated (as in HarmBench)", untested)
    return items


def _xstest(records: dict[str, list[Record]]) -> list[EvalItem]:
    """XSTest: only the prompts labelled safe (when a label column exists) measure over-refusal."""
    role = BENCHMARKS["xstest"].files["prompts"]
    safe = [
        r
        for r in records["prompts"]
        if _text(pick(r, role.columns["label"], required=False, field="label")) in ("", "safe")
    ]
    return _direct("xstest", "prompts")({"prompts": safe})
