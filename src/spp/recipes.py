"""Recipe hashing: a stable fingerprint of a resolved configuration, for provenance and identical-SFT checks."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

# Fields that say where or how fast a run goes, not what it computes: excluded from recipe hashes.
RUNTIME_FIELDS = frozenset(
    {
        "output_dir",
        "logging_dir",
        "run_name",
        "report_to",
        "logging_steps",
        "save_steps",
        "save_total_limit",
        "dataloader_num_workers",
        "push_to_hub",
        "hub_model_id",
        "hub_token",
        "resume_from_checkpoint",
        "overwrite_output_dir",
        "disable_tqdm",
        "local_rank",
        "per_device_eval_batch_size",
        "eval_steps",
    }
)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def resolved_recipe(*configs: Any, exclude: frozenset[str] = RUNTIME_FIELDS) -> dict[str, Any]:
    """Merge dataclass configs (or dicts) into one JSON-able dict, without runtime-only fields."""
    merged: dict[str, Any] = {}
    for config in configs:
        data = _jsonable(config)
        merged.update({k: v for k, v in data.items() if k not in exclude})
    return merged


def recipe_hash(*configs: Any, exclude: frozenset[str] = RUNTIME_FIELDS) -> str:
    """sha256 of the canonical JSON of ``resolved_recipe(*configs)``."""
    payload = json.dumps(resolved_recipe(*configs, exclude=exclude), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()
