"""A local export: the exact trees a publish would upload, one folder per revision, plus an index of refs.

Layout (for air-gapped clusters that stage a release before it goes out, and for ``spp download`` to read)::

    DIR/spp_export.json         {"format": "spp-export", "repo_id", "repo_type", "refs": {name: {kind, files}}}
    DIR/main/...                the tree of branch main
    DIR/step-0000002/...        one folder per checkpoint branch
    DIR/v1.0/...                a tag: a frozen copy of the revision it was made from

Rewriting an unchanged tree changes no byte and no mtime, so re-running a publish is a no-op here as on the Hub.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from spp.contract import EXPORT_INDEX_FILENAME as INDEX_FILENAME
from spp.contract import is_export
from spp.errors import SppConfigError
from spp.hub.refs import check_revision, step_branches

logger = logging.getLogger("spp.hub")
__all__ = ["EXPORT_FORMAT", "INDEX_FILENAME", "LocalExport", "file_sha256", "is_export", "tree_manifest"]
EXPORT_FORMAT = "spp-export"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_manifest(directory: str | Path) -> dict[str, str]:
    """``{relative posix path: sha256}`` of every file under ``directory``, sorted."""
    root = Path(directory)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {p.relative_to(root).as_posix(): file_sha256(p) for p in files}


class LocalExport:
    """One export folder for one repo. Every write keeps ``spp_export.json`` in step with the folders."""

    def __init__(self, root: str | Path, repo_id: str | None = None, repo_type: str = "model"):
        self.root = Path(root)
        self.repo_id = repo_id
        self.repo_type = repo_type

    @classmethod
    def existing(cls, root: str | Path) -> LocalExport:
        """The export at ``root`` as the repo its index records (its id, and its kind: a dataset export is read
        as a dataset repo); a corrupt index is ``SppConfigError`` (``read_index``)."""
        export = cls(root)
        try:
            recorded = json.loads((export.root / INDEX_FILENAME).read_text(encoding="utf-8"))
        except (ValueError, OSError):
            recorded = None  # read_index names what is wrong with it
        if isinstance(recorded, dict) and recorded.get("repo_type") in ("model", "dataset"):
            export.repo_type = recorded["repo_type"]
        export.repo_id = export.read_index().get("repo_id")
        return export

    def read_index(self) -> dict[str, Any]:
        path = self.root / INDEX_FILENAME
        if not path.is_file():
            return {"format": EXPORT_FORMAT, "repo_id": self.repo_id, "repo_type": self.repo_type, "refs": {}}
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise SppConfigError(
                f"corrupt export index ({err})", source=path, fix="restore it, or export the repo again with --to_dir"
            ) from err
        if not isinstance(index, dict) or not isinstance(index.get("refs", {}), dict):
            raise SppConfigError("corrupt export index (not a mapping with a 'refs' mapping)", source=path)
        for name, ref in index.get("refs", {}).items():
            if not isinstance(ref, dict) or not isinstance(ref.get("files", {}), dict):
                raise SppConfigError(f"corrupt export index: ref {name!r} has no 'files' mapping", source=path)
        if index.get("format") != EXPORT_FORMAT:
            raise SppConfigError("not an spp export index", source=path, field="format")
        if index.get("repo_type") != self.repo_type and index.get("refs"):
            raise SppConfigError(
                f"this export holds a {index.get('repo_type')} repo, not a {self.repo_type} repo",
                source=path,
                fix="use another --to_dir for each repo",
            )
        return index

    def _write_index(self, index: dict[str, Any]) -> None:
        index["repo_id"] = self.repo_id or index.get("repo_id")
        index["repo_type"] = self.repo_type
        payload = json.dumps(index, indent=2, sort_keys=True) + "\n"
        path = self.root / INDEX_FILENAME
        if path.is_file() and path.read_text() == payload:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(payload)
        os.replace(tmp, path)

    def write_tree(self, revision: str, tree: str | Path, kind: str = "branch") -> bool:
        """Make ``DIR/<revision>`` an exact copy of ``tree``; ``False`` (and nothing touched) when it already is."""
        check_revision(revision)
        index = self.read_index()
        manifest = tree_manifest(tree)
        target = self.root / revision
        current = index["refs"].get(revision)
        if current and current.get("files") == manifest and target.is_dir():
            logger.info("%s: %s unchanged in %s", self.repo_id or self.root, revision, self.root)
            return False
        staging = self.root / f".incoming-{revision}"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(tree, staging, copy_function=shutil.copyfile)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        index["refs"][revision] = {"kind": kind, "files": manifest}
        self._write_index(index)
        logger.info("%s: wrote %s (%d files) to %s", self.repo_id or self.root, revision, len(manifest), target)
        return True

    def remove_ref(self, revision: str) -> None:
        """Delete the ref ``revision``: its folder and its index entry (``spp.ownership``: another run's refs under
        ``--overwrite``)."""
        check_revision(revision)
        index = self.read_index()
        shutil.rmtree(self.root / revision, ignore_errors=True)
        if index["refs"].pop(revision, None) is not None:
            self._write_index(index)

    def tag(self, tag: str, revision: str) -> bool:
        """Freeze ``revision`` as ``tag``. An existing tag is kept, as the Hub keeps one (``exist_ok``)."""
        check_revision(tag, field="tag")
        index = self.read_index()
        existing = index["refs"].get(tag)
        if existing is not None:
            if existing.get("files") != index["refs"].get(revision, {}).get("files"):
                logger.warning("tag %s already exists and points at other files; it is left as it was", tag)
            return False
        self.write_tree(tag, self.root / revision, kind="tag")
        index = self.read_index()
        index["refs"][tag]["target"] = revision
        self._write_index(index)
        return True

    def refs(self, kind: str | None = None) -> list[str]:
        """Ref names (branches and tags, or only ``kind``), sorted by name."""
        refs = self.read_index()["refs"]
        return sorted(name for name, ref in refs.items() if kind is None or ref["kind"] == kind)

    def checkpoints(self) -> list[str]:
        """The ``step-*`` branches, in step order."""
        return step_branches(self.refs("branch"))

    def files(self, revision: str) -> dict[str, str]:
        """``{path: sha256}`` of one revision; ``SppConfigError`` naming the known refs when it does not exist."""
        refs = self.read_index()["refs"]
        if revision not in refs:
            raise SppConfigError(
                f"revision '{revision}' is not in this export",
                source=self.root,
                field="revision",
                fix=f"use one of: {', '.join(sorted(refs)) or '(none)'}",
            )
        return refs[revision]["files"]
