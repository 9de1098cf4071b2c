"""Getting released artifacts back: a revision's files, and the list of checkpoint branches.

Both work against the Hub (``snapshot_download``, ``list_repo_refs``) and against a local export folder written by
``--to_dir`` (see ``spp.hub.export``), with the same pattern rules as ``snapshot_download``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from spp.errors import SppConfigError, check_local_path
from spp.hub.access import get_api
from spp.hub.export import INDEX_FILENAME, LocalExport, file_sha256, is_export
from spp.hub.refs import check_revision, step_branches

logger = logging.getLogger("spp.hub")


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
        return _download_from_export(LocalExport.existing(source), Path(to), revision, include)
    if Path(source).exists():
        raise SppConfigError("not an spp export folder (no spp_export.json)", source=source)
    check_local_path(source, "repo_id", what="export folder")  # a local-looking path is never sent to the Hub
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


def _safe_relative(rel: str, index: Path) -> PurePosixPath:
    """``rel`` as a path that stays inside the folder it is joined to; ``SppConfigError`` naming the index if not."""
    path = PurePosixPath(rel)
    if not rel or path.is_absolute() or ".." in path.parts or "\\" in rel or PureWindowsPath(rel).drive:
        raise SppConfigError(
            f"the export index lists {rel!r}, a path that leaves the download folder; nothing was downloaded",
            source=index,
            fix="this export was tampered with or is corrupt: export the repo again",
        )
    return path


def _download_from_export(export: LocalExport, to: Path, revision: str, include: list[str] | None) -> list[str]:
    """Copy one revision of ``export`` under ``to``: every path is checked to stay under ``to`` before anything is
    written, every file's sha256 is checked against the index, and a failure removes what this call wrote."""
    from huggingface_hub.utils import filter_repo_objects

    index_path = export.root / INDEX_FILENAME
    manifest = export.files(revision)
    files = sorted(filter_repo_objects(list(manifest), allow_patterns=include or None))
    relative = {rel: _safe_relative(rel, index_path) for rel in files}
    existed = to.exists()
    written: list[Path] = []
    try:
        for rel in files:
            source = export.root / revision / Path(*relative[rel].parts)
            target = to / Path(*relative[rel].parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            written.append(target)
            if file_sha256(target) != manifest[rel]:
                raise SppConfigError(
                    f"{rel}: sha256 differs from the export index (the file was changed or is corrupt); "
                    "the partial download was removed",
                    source=source,
                    fix="export the repo again",
                )
    except BaseException:
        _remove_partial(to, written, existed)
        raise
    logger.info("copied %d files of %s from %s to %s (sha256 checked)", len(files), revision, export.root, to)
    return files


def _remove_partial(to: Path, written: list[Path], existed: bool) -> None:
    """Undo a failed download: a folder it created goes, else only the files it wrote (and emptied folders)."""
    if not existed:
        shutil.rmtree(to, ignore_errors=True)
        return
    for path in written:
        path.unlink(missing_ok=True)
        for parent in path.parents:
            if parent == to or not parent.is_relative_to(to):
                break
            try:
                parent.rmdir()
            except OSError:
                break


def list_checkpoints(source: str, repo_type: str = "model", api: Any = None) -> list[str]:
    """The ``step-NNNNNNN`` branches of a repo id or a local export folder, in step order."""
    if is_export(source):
        return LocalExport.existing(source).checkpoints()
    if Path(source).exists():
        raise SppConfigError("not an spp export folder (no spp_export.json)", source=source)
    check_local_path(source, "repo_id", what="export folder")
    refs = get_api(api).list_repo_refs(source, repo_type=repo_type)
    return step_branches([branch.name for branch in refs.branches])
