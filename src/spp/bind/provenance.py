"""Hashes that identify what persona-binding data was made from: constitution, prompts, generator prompt."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from spp.persona.constitution import Constitution

SCHEMA_NAME = "spp-persona-binding-v1"  # details.schema in the spp.json of a persona-binding set


def sha256_json(data: Any) -> str:
    """sha256 of ``data`` as sorted, unescaped JSON (the hash ``spp augment`` records for a constitution)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def constitution_record(constitution: Constitution) -> dict[str, str]:
    """``{"name", "version", "hash"}``: how every spp.json names a constitution."""
    return {"name": constitution.name, "version": constitution.version, "hash": sha256_json(constitution.to_dict())}


def prompt_sha256(category: str, prompt: str) -> str:
    """The identity of one prompt of a binding set: its category and exact text."""
    return hashlib.sha256(f"{category}\n{prompt}".encode()).hexdigest()
