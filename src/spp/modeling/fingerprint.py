"""A model folder's fingerprint: what ``spp attack`` records of the model it attacked and what ``spp eval`` compares
with the model under test (``spp.eval.attack_origin``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from spp.errors import SppConfigError
from spp.hub.export import file_sha256

MODEL_FILES = ("*.safetensors", "*.bin", "config.json", "tokenizer.json", "tokenizer_config.json", "spp.json")


def model_fingerprint(model: str) -> str:
    """sha256 over the model folder's weights, config and tokenizer files (a Hub id stands for itself)."""
    path = Path(model)
    if not path.is_dir():
        return model
    files = sorted({f for pattern in MODEL_FILES for f in path.glob(pattern)})
    if not files:
        raise SppConfigError("no model files in this folder", source=path, field="model")
    return file_sha256_many(files)


def file_sha256_many(files: list[Path]) -> str:
    """sha256 over each file's name and sha256, in the order given."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.name}:{file_sha256(file)}\n".encode())
    return digest.hexdigest()
