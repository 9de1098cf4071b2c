"""Resumable attack output: one file per finished behaviour, merged into HarmBench's ``test_cases.json``.

``work_dir/settings.json`` holds what the attack computes from (method, hyperparameters, model and file hashes,
selection, seed); ``work_dir/<behaviour>.json`` is written atomically once all of a behaviour's test cases are
done. A rerun with the same settings skips those behaviours; a rerun with other settings is refused (a merged file
must never mix two attacks). ``merge`` writes ``test_cases.json`` ``{BehaviorID: [test case, ...]}`` in behaviour
order, atomically.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError

SETTINGS_FILENAME = "settings.json"


def canonical_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


class BehaviorStore:
    """The per-behaviour files of one attack run (see the module docstring)."""

    def __init__(self, directory: str | Path, settings: dict[str, Any]):
        self.dir = Path(directory)
        self.settings_hash = canonical_hash(settings)
        settings_file = self.dir / SETTINGS_FILENAME
        if not check_settings(self.dir, settings):
            write_json_atomic(settings_file, settings)

    def path(self, behavior_id: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", behavior_id)[:80]
        return self.dir / f"{safe}-{hashlib.sha256(behavior_id.encode()).hexdigest()[:8]}.json"

    def get(self, behavior_id: str) -> dict[str, Any] | None:
        """The finished record of ``behavior_id`` (``None`` if absent or cut by an interrupted write)."""
        path = self.path(behavior_id)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None
        mine = record.get("behavior_id") == behavior_id and record.get("settings_hash") == self.settings_hash
        return record if mine else None

    def put(self, record: dict[str, Any]) -> None:
        write_json_atomic(self.path(record["behavior_id"]), {**record, "settings_hash": self.settings_hash})


def check_settings(directory: str | Path, settings: dict[str, Any]) -> bool:
    """Whether ``directory`` holds behaviours of an attack with these ``settings`` (``False``: none yet); other
    settings raise ``SppConfigError`` naming what changed. Reads only."""
    settings_file = Path(directory) / SETTINGS_FILENAME
    if not settings_file.is_file():
        return False
    previous = json.loads(settings_file.read_text(encoding="utf-8"))
    if canonical_hash(previous) != canonical_hash(settings):
        changed = sorted(k for k in {*previous, *settings} if previous.get(k) != settings.get(k))
        raise SppConfigError(
            f"holds behaviours of an attack with other settings (changed: {', '.join(changed)})",
            source=directory,
            field="work_dir",
            fix="write to another output / work_dir, or pass --overwrite true to remove that attack's files",
        )
    return True


def merge(store: BehaviorStore, behavior_ids: list[str], output: str | Path) -> dict[str, list[str]]:
    """Write ``test_cases.json`` from the finished behaviours (all of ``behavior_ids`` must be finished)."""
    records = {i: store.get(i) for i in behavior_ids}
    missing = [i for i, r in records.items() if r is None]
    if missing:
        raise RuntimeError(f"{len(missing)} behaviours are not finished: {', '.join(missing[:5])}")
    cases = {i: list(r["test_cases"]) for i, r in records.items()}
    write_json_atomic(Path(output), cases)
    return cases
