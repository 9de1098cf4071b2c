"""What ``spp experiment`` knows of its steps between runs: ``<output_dir>/experiment_state.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spp.experiment.plan import Step

STATE_FILENAME = "experiment_state.json"


class ExperimentState:
    """``<output_dir>/experiment_state.json``: per step, its status (running, done, launched), hash and timing."""

    def __init__(self, root: Path):
        self.path = root / STATE_FILENAME
        self.steps: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            self.steps = json.loads(self.path.read_text(encoding="utf-8")).get("steps", {})

    def record(self, step: Step, status: str, **extra: Any) -> None:
        self.steps[step.name] = {"status": status, "hash": step.hash, "stage": step.stage, **extra}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"steps": self.steps}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(self.path)

    def entry(self, step: Step) -> dict[str, Any]:
        return self.steps.get(step.name, {})

    def is_done(self, step: Step) -> bool:
        entry = self.entry(step)
        finished = entry.get("status") in ("done", "launched") and entry.get("hash") == step.hash
        return finished and all(Path(f).exists() for f in step.done_files)
