"""``spp.json``: the metadata file in every spp dataset and model repo.

Later stages read it back instead of asking the user: SFT takes the marker token and persona from the base model,
eval takes the persona's identity facts, compare checks SFT hashes. Unknown keys are kept on read and written back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError

METADATA_FILENAME = "spp.json"
SCHEMA_VERSION = 1


@dataclass
class SppMetadata:
    """What an artifact is and how it was made.

    ``kind``: ``dataset``, ``model`` (a pretrained base), ``instruct_model`` or ``checkpoint``.
    ``persona``: ``Persona.to_dict()``; ``constitution``: ``{"name", "version", "hash"}``;
    ``block_format``: ``{"marker", "end_marker"}``; ``prompt_hash``: ``PromptRenderer.prompt_hash()``.
    ``recipe_hash``/``sft_hash``: sha256 of the resolved recipe (see ``spp.recipes.recipe_hash``).
    ``lineage``: ids/revisions of the artifacts this one was made from (dataset -> base model -> instruct model).
    """

    kind: str
    persona: dict[str, Any] | None = None
    constitution: dict[str, Any] | None = None
    block_format: dict[str, str] | None = None
    prompt_hash: str | None = None
    arm: str | None = None
    recipe_hash: str | None = None
    sft_hash: str | None = None
    lineage: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    spp_version: str = ""

    def __post_init__(self) -> None:
        if not self.spp_version:
            from spp import __version__

            self.spp_version = __version__

    @property
    def marker(self) -> str | None:
        return (self.block_format or {}).get("marker")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> SppMetadata:
        if not isinstance(data, dict) or "kind" not in data:
            raise SppConfigError("not an spp metadata object (no 'kind')", source=source, field="kind")
        known = {f.name for f in fields(cls)}
        extra = {k: v for k, v in data.items() if k not in known}
        meta = cls(**{k: v for k, v in data.items() if k in known})
        meta.details = {**extra, **meta.details}
        return meta

    def save(self, directory: str | Path) -> Path:
        """Write ``spp.json`` into ``directory`` (sorted keys, so an unchanged artifact writes identical bytes)."""
        path = Path(directory) / METADATA_FILENAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        return path


def read_metadata(directory: str | Path) -> SppMetadata | None:
    """The ``spp.json`` of a local artifact directory, or ``None`` when it has none."""
    path = Path(directory) / METADATA_FILENAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise SppConfigError(f"not valid JSON ({err})", source=path) from err
    return SppMetadata.from_dict(data, source=str(path))
