"""Which run an artifact came from: the recipe hash, SFT hash and data view its ``spp.json`` records."""

from __future__ import annotations

from typing import Any

IDENTITY_KEYS = ("recipe_hash", "sft_hash", "data_view_hash")


def run_identity(meta: Any) -> dict[str, str]:
    """What identifies the run an artifact's ``spp.json`` came from: its recipe hash, SFT hash and data view."""
    if meta is None:
        return {}
    values = {
        "recipe_hash": meta.recipe_hash,
        "sft_hash": meta.sft_hash,
        "data_view_hash": (meta.details or {}).get("data_view_hash"),
    }
    return {k: v for k, v in values.items() if v}


def identities_differ(theirs: dict[str, str], ours: dict[str, str]) -> bool:
    """Whether two runs differ in a hash both record (a hash only one of them records proves nothing)."""
    return any(theirs.get(k) and ours.get(k) and theirs[k] != ours[k] for k in IDENTITY_KEYS)


def describe_identity(identity: dict[str, str]) -> str:
    """``recipe hash 1a2b..., data view 3c4d...`` (12 hex digits each), for messages."""
    names = {"recipe_hash": "recipe hash", "sft_hash": "SFT hash", "data_view_hash": "data view"}
    return ", ".join(f"{names[k]} {identity[k][:12]}" for k in IDENTITY_KEYS if identity.get(k)) or "no recorded hash"
