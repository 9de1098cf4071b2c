"""``<output_dir>/provenance.json``: which dataset made which base model, which instruct model, which results.

Every link names the artifact's path, where it was published, and the hash that identifies how it was made (the
step's recipe hash; the ``recipe_hash``/``sft_hash`` of its ``spp.json``), so any result traces back to its data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spp.experiment.config import ExperimentConfig
from spp.experiment.plan import Step
from spp.metadata import read_metadata

PROVENANCE_FILENAME = "provenance.json"


def _artifact(step: Step | None, state, role: str) -> dict[str, Any] | None:
    if step is None:
        return None
    path = step.outputs[role]
    entry = state.entry(step)
    out: dict[str, Any] = {"path": path, "step": step.name, "step_hash": step.hash, "status": entry.get("status")}
    published = {k: v for k, v in step.outputs.items() if k != role}
    if published:
        out["published"] = published
    meta = read_metadata(path) if Path(path).is_dir() else None
    if meta is not None:
        out.update(kind=meta.kind, recipe_hash=meta.recipe_hash, sft_hash=meta.sft_hash, lineage=meta.lineage)
    return out


def _results(step: Step | None, state) -> dict[str, Any] | None:
    out = _artifact(step, state, "results")
    file = Path(out["path"]) / "results.json" if out else None
    if file is not None and file.is_file():
        data = json.loads(file.read_text(encoding="utf-8"))
        out["mean_asr"] = data.get("headline", {}).get("mean")
        out["sft_hash"] = data.get("sft_hash")
    return out


def _attack(step: Step | None, state) -> dict[str, Any] | None:
    """The arm's attack: its step, and the method, hyperparameters and test-case hash of its record when written."""
    out = _artifact(step, state, "test_cases")
    record = Path(out["path"]) / "test_cases.attack.json" if out else None
    if record is not None and record.is_file():
        data = json.loads(record.read_text(encoding="utf-8"))
        out.update(attack=data.get("attack"), hyperparameters=data.get("hyperparameters"),
                   test_cases_sha256=data.get("test_cases", {}).get("sha256"))  # fmt: skip
    return out


def provenance(plan: list[Step], config: ExperimentConfig, state) -> dict[str, Any]:
    """The provenance record of ``plan`` as it stands now."""
    by_name = {s.name: s for s in plan}
    dataset = _artifact(by_name.get("augment"), state, "dataset")
    if dataset and "publish-dataset" in by_name:
        dataset["published"] = by_name["publish-dataset"].outputs
    arms = {
        arm: {
            "dataset": dataset["path"] if dataset else None,
            "base_model": _artifact(by_name.get(f"pretrain-{arm}"), state, "model"),
            "instruct_model": _artifact(by_name.get(f"sft-{arm}"), state, "model"),
            "attack": _attack(by_name.get(f"attack-{arm}"), state),
            "results": _results(by_name.get(f"eval-{arm}"), state),
            **({"model": dict(zip(("id", "revision"), config.model_of(arm), strict=True))} if config.models else {}),
        }
        for arm in config.arms
    }
    compare = by_name.get("compare")
    return {
        "experiment": config.name,
        "dataset": dataset,
        "binding_dataset": _artifact(by_name.get("bind-data"), state, "dataset"),  # the SFT's persona-binding data
        "arms": arms,
        "comparison": _artifact(compare, state, "report") if compare else None,
        "steps": {s.name: {"hash": s.hash, "status": state.entry(s).get("status")} for s in plan},
    }


def write_provenance(plan: list[Step], config: ExperimentConfig, state) -> Path:
    path = config.root / PROVENANCE_FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(provenance(plan, config, state), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
