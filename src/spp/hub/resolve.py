"""Which files a model reference at a revision means: its refs, the revision pinned, and a local folder holding it.

A reference is a Hub repo id, a local export (``spp.hub.export``: one folder per ref) or a plain local folder (one
tree, no revisions). ``resolve_revision`` pins a branch, tag or commit to what identifies its files:

- a Hub repo: the commit sha (``HfApi.model_info(revision=...).sha``; offline, the cached snapshot's commit);
- a local export: ``sha256:`` + the digest of that ref's file manifest (the index records every file's sha256);
- a local folder: ``sha256:`` + the digest of its model files' manifest.

Promises:
- A revision that does not exist is ``SppConfigError`` naming it and the refs that do (``list_refs``), raised before
  anything is downloaded or written; a plain folder given a revision other than ``main`` is refused the same way.
- ``fetch`` puts the model files of a pinned Hub revision in the local Hub cache (``snapshot_download`` at the commit
  sha, so a branch that moves meanwhile cannot mix two commits) and returns that folder. These two ``HfApi`` methods
  and ``snapshot_download`` are the only Hub calls: tests stub them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError, check_local_path, looks_local

logger = logging.getLogger("spp.hub")

# The files a model needs: config, weights, tokenizer, chat templates, remote code (never optimizer state).
MODEL_PATTERNS = [
    "*.json",
    "*.safetensors",
    "pytorch_model*.bin",
    "*.txt",
    "*.model",
    "*.tiktoken",
    "*.jinja",
    "additional_chat_templates/*.jinja",
    "*.py",
]
SHA_PREFIX = "sha256:"


@dataclass(frozen=True)
class Ref:
    """A branch or tag and the commit (Hub) or manifest digest (local export) it points at."""

    name: str
    kind: str
    sha: str


@dataclass(frozen=True)
class Pinned:
    """A reference at a revision, pinned: ``sha`` names its files exactly; ``path`` is a local folder holding them
    (``None`` for a Hub revision until ``fetch``)."""

    reference: str
    source: str  # "hub", "export" or "folder"
    revision: str | None
    sha: str
    path: Path | None = None

    def record(self) -> dict[str, Any]:
        """What results and ``spp.json`` record about it."""
        return {"id": self.reference, "revision": self.revision, "sha": self.sha, "source": self.source}


def manifest_digest(files: dict[str, str]) -> str:
    """``sha256:`` + the digest of a ``{path: sha256}`` manifest."""
    return SHA_PREFIX + hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def folder_digest(folder: Path) -> str:
    """``manifest_digest`` of a folder's model files (``MODEL_PATTERNS``; checkpoints and optimizer state left out)."""
    from huggingface_hub.utils import filter_repo_objects

    from spp.hub.export import file_sha256

    names = [p.name for p in folder.iterdir() if p.is_file()]
    names += [f"additional_chat_templates/{p.name}" for p in sorted((folder / "additional_chat_templates").glob("*"))]
    chosen = sorted(filter_repo_objects(names, allow_patterns=MODEL_PATTERNS))
    return manifest_digest({name: file_sha256(folder / name) for name in chosen})


def _source(reference: str) -> str:
    from spp.hub.export import is_export

    if is_export(reference):
        return "export"
    if Path(reference).is_dir():
        return "folder"
    return "hub"


def list_refs(reference: str, repo_type: str = "model", api: Any = None) -> list[Ref]:
    """The branches and tags of a Hub repo or a local export (a plain folder has none), sorted by name."""
    source = _source(reference)
    if source == "folder":
        return []
    if source == "export":
        from spp.hub.export import LocalExport

        refs = LocalExport.existing(reference).read_index()["refs"]
        return [
            Ref(name, ref.get("kind", "branch"), manifest_digest(ref["files"])) for name, ref in sorted(refs.items())
        ]
    check_local_path(reference, "model", what="model path")
    from spp.hub.access import get_api

    found = get_api(api).list_repo_refs(reference, repo_type=repo_type)
    refs = [Ref(b.name, "branch", b.target_commit) for b in found.branches]
    refs += [Ref(t.name, "tag", t.target_commit) for t in getattr(found, "tags", None) or []]
    return sorted(refs, key=lambda r: r.name)


def _unknown_revision(reference: str, revision: str, refs: list[Ref], field: str) -> SppConfigError:
    names = ", ".join(r.name for r in refs) or "(none)"
    return SppConfigError(
        f"revision '{revision}' does not exist in {reference}",
        field=field,
        fix=f"use one of its refs: {names} (or a full commit sha of a Hub repo)",
    )


def resolve_revision(
    reference: str,
    revision: str | None = None,
    *,
    field: str = "model",
    revision_field: str = "revision",
    repo_type: str = "model",
    api: Any = None,
    pin: bool = True,
) -> Pinned:
    """``reference`` at ``revision`` (``None``: main) pinned to its sha (see the module docstring). ``pin=False``
    checks a local reference's revision without hashing its files (``sha`` is then empty)."""
    source = _source(reference)
    if source == "folder":
        if revision not in (None, "", "main"):
            raise SppConfigError(
                f"{reference} is a plain folder (one tree, no revisions), so revision '{revision}' cannot be read",
                field=revision_field,
                fix="leave the revision empty, or give a local export (spp publish --to_dir) or a Hub id",
            )
        return Pinned(reference, "folder", None, folder_digest(Path(reference)) if pin else "", Path(reference))
    if source == "export":
        from spp.hub.export import LocalExport

        export = LocalExport.existing(reference)
        name = revision or "main"
        refs = export.read_index()["refs"]
        if name not in refs:
            raise _unknown_revision(reference, name, list_refs(reference), revision_field)
        return Pinned(reference, "export", name, manifest_digest(refs[name]["files"]), export.root / name)
    check_local_path(reference, field, what="model path")
    if looks_local(reference):
        raise SppConfigError(f"{reference!r} is neither a folder nor a Hub id", field=field)
    return _resolve_hub(reference, revision or None, revision_field, repo_type, api)


def check_local_revision(reference: str, revision: str | None, revision_field: str = "revision") -> None:
    """Parse-time check for a local reference: a local export has ``revision`` (else ``SppConfigError`` naming its
    refs); a plain folder has no revision but ``main``. A Hub id is checked when it is resolved."""
    if _source(reference) != "hub":
        resolve_revision(reference, revision or None, revision_field=revision_field, pin=False)


def _resolve_hub(repo_id: str, revision: str | None, revision_field: str, repo_type: str, api: Any) -> Pinned:
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    from spp.hub.access import get_api, hub_offline

    if hub_offline():
        return _resolve_cached(repo_id, revision, revision_field, repo_type)
    client = get_api(api)
    info = client.model_info if repo_type == "model" else client.dataset_info
    try:
        sha = info(repo_id, revision=revision).sha
    except RevisionNotFoundError as err:
        raise _unknown_revision(
            repo_id, revision or "main", list_refs(repo_id, repo_type, client), revision_field
        ) from err
    except RepositoryNotFoundError as err:
        raise SppConfigError(
            f"no {repo_type} repo {repo_id!r} on the Hub (or it is private and this machine has no access)",
            field="model",
            fix="check the id; for a gated or private repo log in (hf auth login) or set HF_TOKEN",
        ) from err
    logger.info("%s@%s is commit %s", repo_id, revision or "main", sha)
    return Pinned(repo_id, "hub", revision, sha)


def _resolve_cached(repo_id: str, revision: str | None, revision_field: str, repo_type: str) -> Pinned:
    """``HF_HUB_OFFLINE=1``: the revision as the local Hub cache knows it (its snapshot folder is named by commit)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(repo_id, revision=revision or "main", repo_type=repo_type,
                                        allow_patterns=MODEL_PATTERNS, local_files_only=True))  # fmt: skip
    except LocalEntryNotFoundError as err:
        raise SppConfigError(
            f"HF_HUB_OFFLINE=1 is set and {repo_id}@{revision or 'main'} is not in the local Hub cache",
            field=revision_field,
            fix="download it once with the Hub reachable (spp download), or unset HF_HUB_OFFLINE",
        ) from err
    return Pinned(repo_id, "hub", revision, folder.name, folder)


def fetch(pinned: Pinned, api: Any = None, repo_type: str = "model") -> Path:
    """A local folder holding the model files of ``pinned`` (a Hub revision is downloaded at its commit sha)."""
    if pinned.path is not None:
        return pinned.path
    from huggingface_hub import snapshot_download

    from spp.hub.access import get_api

    folder = snapshot_download(
        pinned.reference,
        repo_type=repo_type,
        revision=pinned.sha,
        allow_patterns=MODEL_PATTERNS,
        endpoint=getattr(get_api(api), "endpoint", None),
    )
    return Path(folder)
