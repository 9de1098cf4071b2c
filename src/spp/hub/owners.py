"""Exports and Hub repos have an owner too: before a run's first save, no ``main`` or ``step-*`` of another run.

The exports' and Hub repos' side of ``spp.ownership``'s rule (the folders' side is ``spp.ownership.claim_output``):
``check_export_owner`` before a run's first save, ``clear_export`` when ``spp experiment`` reruns a step whose recipe
changed."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.hub.export import INDEX_FILENAME, LocalExport, is_export
from spp.ownership.claims import MARKER, folder_entries
from spp.ownership.identity import describe_identity, identities_differ, run_identity

logger = logging.getLogger("spp")
__all__ = ["check_export_owner", "clear_export", "run_identity"]


def _run_refs(refs: Iterable[str], revision: str | None) -> list[str]:
    """The refs a run writes: ``main`` and its ``step-*`` branches (or the one ``revision`` a publish writes)."""
    if revision is not None:
        return [r for r in refs if r == revision]
    return [r for r in refs if r == "main" or r.startswith("step-")]


def check_export_owner(
    identity: dict[str, str],
    *,
    to_dir: str | Path | None = None,
    repo_id: str | None = None,
    revision: str | None = None,
    overwrite: bool = False,
    api: Any = None,
    field: str = "checkpoint_export_dir",
) -> list[str]:
    """Before a run's first save into a local export (``to_dir``) or a Hub repo (``repo_id``): refuse (exit 2,
    naming both runs) when its ``main`` or ``step-*`` refs (only ``revision``, when given: a publish) hold another
    run's artifacts; with ``overwrite`` remove those refs (a Hub repo's ``main`` is replaced by the upload). A
    non-empty folder that is not an spp export is refused. Returns the refs of another run that were removed."""
    if to_dir is not None:
        return _check_local_export(Path(to_dir), identity, revision, overwrite, field)
    if repo_id is not None:
        return _check_hub_repo(repo_id, identity, revision, overwrite, api, field)
    return []


def _refuse_other_run(where: str, refs: list[str], theirs: dict[str, str], ours: dict[str, str], field: str):
    shown = ", ".join(refs[:4]) + (f" and {len(refs) - 4} more" if len(refs) > 4 else "")
    return SppConfigError(
        f"{where} holds another run ({shown}: {describe_identity(theirs)}); this run has "
        f"{describe_identity(ours)}: nothing was written",
        field=field,
        fix="export each run to its own place, resume the run that wrote it, or pass --overwrite true to replace "
        "that run's refs",
    )


def _check_local_export(root: Path, ours: dict[str, str], revision, overwrite: bool, field: str) -> list[str]:
    from spp.metadata import read_metadata

    if not root.exists() or (root.is_dir() and not folder_entries(root) and not (root / MARKER).exists()):
        return []
    if not is_export(root):
        entries = folder_entries(root)
        raise SppConfigError(
            f"this folder is not empty ({len(entries)} entries, e.g. {entries[:3]}) and is not an spp export (no "
            "spp_export.json): nothing was changed",
            source=root,
            field=field,
            fix="choose a new or empty folder for the export",
        )
    export = LocalExport.existing(root)
    others: dict[str, dict[str, str]] = {}
    for ref in _run_refs(export.refs(), revision):
        theirs = run_identity(read_metadata(root / ref)) if (root / ref).is_dir() else {}
        if identities_differ(theirs, ours):
            others[ref] = theirs
    if not others:
        return []
    if not overwrite:
        raise _refuse_other_run(f"export {root}", sorted(others), next(iter(others.values())), ours, field)
    for ref in others:
        export.remove_ref(ref)
    logger.warning("--overwrite: removed %s of another run from export %s", ", ".join(sorted(others)), root)
    return sorted(others)


def _check_hub_repo(repo_id: str, ours: dict[str, str], revision, overwrite: bool, api, field: str) -> list[str]:
    from spp.hub.access import get_api
    from spp.metadata import SppMetadata

    api = get_api(api)
    try:
        refs = api.list_repo_refs(repo_id)
    except Exception as err:  # a repo that does not exist yet is ours to create
        if type(err).__name__ == "RepositoryNotFoundError":
            return []
        raise
    names = [b.name for b in refs.branches]
    others: dict[str, dict[str, str]] = {}
    for ref in _run_refs(names, revision):
        try:
            local = api.hf_hub_download(repo_id, "spp.json", revision=ref)
        except Exception as err:
            if type(err).__name__ not in ("EntryNotFoundError", "RemoteEntryNotFoundError"):
                raise
            files = [f for f in api.list_repo_files(repo_id, revision=ref) if f not in (".gitattributes", "README.md")]
            if files:
                raise SppConfigError(
                    f"Hub repo {repo_id}@{ref} holds files spp did not write (no spp.json, e.g. {files[:3]}): "
                    "nothing was uploaded",
                    field=field,
                    fix="choose another hub_model_id",
                ) from None
            continue
        theirs = run_identity(SppMetadata.from_dict(json.loads(Path(local).read_text()), source=f"{repo_id}@{ref}"))
        if identities_differ(theirs, ours):
            others[ref] = theirs
    if not others:
        return []
    if not overwrite:
        raise _refuse_other_run(f"Hub repo {repo_id}", sorted(others), next(iter(others.values())), ours, field)
    removed = []
    for ref in sorted(others):
        if ref != "main":
            api.delete_branch(repo_id, branch=ref)
            removed.append(ref)
    logger.warning(
        "--overwrite: deleted %s of another run from %s; main is replaced by this run's upload",
        ", ".join(removed) or "no branch",
        repo_id,
    )
    return removed


def clear_export(path: str | Path) -> list[str]:
    """Remove every ref of the local export at ``path`` and its index (the folder too, when nothing else is left);
    returns the refs removed (none when ``path`` is not an export). ``spp experiment`` clears a step's outputs with
    it after ``spp.ownership.clear_output``."""
    root = Path(path)
    if not root.is_dir() or not is_export(root):
        return []
    export = LocalExport.existing(root)
    removed = []
    for ref in export.refs():
        export.remove_ref(ref)
        removed.append(ref)
    (root / INDEX_FILENAME).unlink(missing_ok=True)
    if not any(root.iterdir()):
        root.rmdir()
    return removed
