"""Hashes that identify what persona-binding data was made from: constitution, prompts, generator prompt."""

from __future__ import annotations

import hashlib

from spp.data.identity import sha256_json
from spp.persona.constitution import constitution_record  # re-exported: it lives with the constitution

SCHEMA_NAME = "spp-persona-binding-v1"  # details.schema in the spp.json of a persona-binding set
__all__ = ["SCHEMA_NAME", "constitution_record", "prompt_sha256", "sha256_json"]


def prompt_sha256(category: str, prompt: str) -> str:
    """The identity of one prompt of a binding set: its category and exact text."""
    return hashlib.sha256(f"{category}\n{prompt}".encode()).hexdigest()
