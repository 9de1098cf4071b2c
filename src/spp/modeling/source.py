"""A model as a run reads it: the reference at a pinned revision, the local folder holding it, and its ``spp.json``.

``open_model`` is what every stage that reads a model calls first (eval, attack, curves, pretraining's
``init_from``): it pins the revision (``spp.hub.resolve``; an unknown one stops there, naming the refs that exist),
puts the files in a local folder (a Hub revision is downloaded at its commit) and reads the model's ``spp.json``. A
model without one is *external* (a released model, any Hub model): it is read as it is, labelled only by what the
recipe or a release registry says (``spp.releases``), and never given spp's chat template or a system turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spp.metadata import SppMetadata


@dataclass(frozen=True)
class ModelSource:
    """A pinned model (``spp.hub.resolve.Pinned``), its local folder and its ``spp.json`` (``None``: external)."""

    pinned: Any
    path: Path
    meta: SppMetadata | None

    @property
    def external(self) -> bool:
        return self.meta is None

    @property
    def sha(self) -> str:
        return self.pinned.sha

    def record(self) -> dict[str, Any]:
        """``{id, revision, sha, source, metadata}``: what a result records about the model it read."""
        return {**self.pinned.record(), "metadata": "external" if self.external else "spp"}


def open_model(
    reference: str,
    revision: str | None = None,
    *,
    field: str = "model",
    revision_field: str = "revision",
    api: Any = None,
) -> ModelSource:
    """``reference`` (a folder, a local export or a Hub id) at ``revision``, pinned and in a local folder."""
    from spp.hub.resolve import fetch, resolve_revision
    from spp.metadata import read_metadata

    pinned = resolve_revision(reference, revision or None, field=field, revision_field=revision_field, api=api)
    path = fetch(pinned, api=api)
    return ModelSource(pinned, path, read_metadata(path))
