"""Getting released artifacts back: a revision's files, and the list of checkpoint branches.

Both work against the Hub (``snapshot_download``, ``list_repo_refs``) and against a local export folder written by
``--to_dir`` (see ``spp.hub.export``), with the same pattern rules as ``snapshot_download``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.hub.access import get_api
from spp.hub.export import LocalExport, is_export
from spp.hub.refs import check_revision, step_branches

logger = logging.getLogger("spp.hub")


def _export(source: str | Path) -> LocalExport:
    index = LocalExport(source).read_index()
    return LocalExport(source, repo_id=index.get("repo_id"), repo_type=index.get("repo_type", "model"))


def download(
    source: str,
    to: str | Path,
    revision: str = "main",
    include: list[str] | None = None,
    repo_type: str = "model",
    api: Any = None,
) -> list[str]:
    """Put the files of ``source`` at ``revision`` that match ``include`` (all when empty) under ``to``.

    ``source`` is a repo id, or a local export folder. Returns the relative paths written, sorted.
    """
    check_revision(revision)
    if is_export(source):
        return _download_from_export(_export(source), Path(to), revision, include)
    if Path(source).exists():
        raise SppConfigError("not an spp export folder (no spp_export.json)", source=source)
    from huggingface_hub import snapshot_download

    api = get_api(api)
    folder = snapshot_download(
        source,
        repo_type=repo_type,
        revision=revision,
        allow_patterns=include or None,
        local_dir=str(to),
        endpoint=getattr(api, "endpoint", None),
    )
    root = Path(folder)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".cache" not in p.parts)


def _download_from_export(export: LocalExport, to: Path, revision: str, include: list[str] | None) -> list[str]:
    from huggingface_hub.utils import filter_repo_objects

    files = sorted(filter_repo_objects(list(export.files(revision)), allow_patterns=include or None))
    for rel in files:
        target = to / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(export.root / revision / rel, target)
    logger.info("copied %d files of %s from %s to %s", len(files), revision, export.root, to)
    return files


def list_checkpoints(source: str, repo_type: str = "model", api: Any = None) -> list[str]:
    """The ``step-NNNNNNN`` branches of a repo id or a local export folder, in step order."""
    if is_export(source):
        return _export(source).checkpoints()
    if Path(source).exists():
        raise SppConfigError("not an spp export folder (no spp_export.json)", source=source)
    refs = get_api(api).list_repo_refs(source, repo_type=repo_type)
    return step_branches([branch.name for branch in refs.branches])
