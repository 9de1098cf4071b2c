"""The behaviours an attack optimises against, and the target string of each (HarmBench's files).

HarmBench's behaviours CSV (``Behavior, FunctionalCategory, SemanticCategory, Tags, ContextString, BehaviorID``)
and its targets file (``data/optimizer_targets/harmbench_targets_text.json``: ``{BehaviorID: target string}``).
A behaviour's text is written as HarmBench's optimisers write it: the context first when there is one
(``{context}\\n\\n---\\n\\n{behavior}``), then one space, then the optimised tokens.

Promise: every selected behaviour has a target, or loading fails naming how many and which have none; a filter
that selects nothing fails too; nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from spp.errors import SppConfigError
from spp.eval.records import pick, read_records

TARGETS_FILENAME = "harmbench_targets_text.json"
COLUMNS = {
    "id": ("BehaviorID", "id"),
    "behavior": ("Behavior", "behavior", "goal"),
    "context": ("ContextString", "context"),
    "category": ("FunctionalCategory", "functional_category"),
    "target": ("Target", "target"),
}


@dataclass(frozen=True)
class Behavior:
    id: str
    behavior: str
    context: str
    target: str
    functional_category: str = ""

    def prompt_text(self) -> str:
        """The text before the optimised tokens (HarmBench: context block first, a trailing space)."""
        head = f"{self.context}\n\n---\n\n{self.behavior}" if self.context else self.behavior
        return head + " "


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def targets_path(behaviors: str, targets: str) -> Path | None:
    """``targets`` when given, else HarmBench's targets file beside the behaviours file, else ``None``."""
    if targets:
        if not Path(targets).is_file():
            raise SppConfigError("targets file not found", source=targets, field="targets")
        return Path(targets)
    beside = Path(behaviors).parent / TARGETS_FILENAME
    return beside if beside.is_file() else None


def read_targets(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise SppConfigError(f"not valid JSON ({err.msg})", source=f"{path}:{err.lineno}") from err
    if not isinstance(data, dict) or not all(isinstance(v, str) and v for v in data.values()):
        raise SppConfigError("must be a JSON object mapping each BehaviorID to its target string", source=path)
    return data


def load_behaviors(
    behaviors: str,
    targets: str = "",
    functional_categories: list[str] | None = None,
    behavior_ids: list[str] | None = None,
    limit: int = 0,
) -> list[Behavior]:
    """The selected behaviours of the CSV, in file order, each with its target (see the module docstring)."""
    if not behaviors or not Path(behaviors).is_file():
        raise SppConfigError(
            "behaviours file not found",
            source=behaviors or None,
            field="behaviors",
            fix="pass HarmBench's behaviours CSV, e.g. harmbench_behaviors_text_test.csv",
        )
    path = targets_path(behaviors, targets)
    by_id = read_targets(path) if path else {}
    rows = []
    for record in read_records(behaviors):
        row = {name: pick(record, names, required=name in ("id", "behavior"), field=name)
               for name, names in COLUMNS.items()}  # fmt: skip
        target = by_id.get(str(row["id"])) or row.get("target") or ""
        rows.append(
            Behavior(
                str(row["id"]),
                str(row["behavior"]).strip(),
                str(row.get("context") or "").strip(),
                str(target),
                str(row.get("category") or ""),
            )  # fmt: skip
        )
    seen: set[str] = set()
    for b in rows:
        if b.id in seen:
            raise SppConfigError(f"BehaviorID {b.id!r} appears twice", source=behaviors, field="behaviors")
        seen.add(b.id)
    selected = [
        b
        for b in rows
        if (not functional_categories or b.functional_category in functional_categories)
        and (not behavior_ids or b.id in behavior_ids)
    ]
    if limit > 0:
        selected = selected[:limit]
    if not selected:
        raise SppConfigError(
            f"no behaviour of {len(rows)} matches the selection", source=behaviors,
            fix="check functional_categories and behavior_ids",
        )  # fmt: skip
    missing = [b.id for b in selected if not b.target]
    if missing:
        raise SppConfigError(
            f"{len(missing)} of {len(selected)} selected behaviours have no target string ({', '.join(missing[:5])}"
            + (", ..." if len(missing) > 5 else "") + ")",
            source=path or behaviors,
            field="targets",
            fix=f"pass HarmBench's {TARGETS_FILENAME} (data/optimizer_targets/) as targets, or put it beside the "
            "behaviours file",
        )  # fmt: skip
    return selected
