"""Output claims: the marker ``.spp-output.json`` of a folder, its claims and manifests, and the checks that decide
whether a run may take an output (see ``spp.ownership`` for the promises)."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.ownership.inputs import check_not_in_place

logger = logging.getLogger("spp")
MARKER = ".spp-output.json"
MARKER_FORMAT = "spp-output"
WHOLE = "."  # the claim name of a whole folder
OVERWRITE_FIX = "pass --overwrite true to remove what spp {stage} wrote there (only that), or choose another {what}"


@dataclass
class Claim:
    """One claim of a marker: who wrote what (``files``: top-level entry names) and what was there before
    (``kept``: entries of a whole-folder claim that spp did not write)."""

    stage: str
    recipe_hash: str | None = None
    data_view: str | None = None
    files: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    status: str = "running"
    inputs: list[str] = field(default_factory=list)
    spp_version: str = ""

    @classmethod
    def from_dict(cls, data: Any, source: Path) -> Claim:
        if not isinstance(data, dict) or not isinstance(data.get("stage"), str):
            raise SppConfigError("corrupt spp marker (a claim without a stage)", source=source, fix=_CORRUPT_FIX)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def describe(self) -> str:
        parts = [f"spp {self.stage}"]
        if self.recipe_hash:
            parts.append(f"recipe hash {self.recipe_hash[:12]}")
        if self.data_view:
            parts.append(f"data view {self.data_view[:12]}")
        return ", ".join(parts)


_CORRUPT_FIX = f"restore it, or move the folder's own files elsewhere and delete {MARKER}"


def read_claims(folder: str | Path) -> dict[str, Claim] | None:
    """The claims in ``folder``'s marker (``None``: no marker); a corrupt marker is ``SppConfigError``."""
    path = Path(folder) / MARKER
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SppConfigError(f"corrupt spp marker ({err})", source=path, fix=_CORRUPT_FIX) from err
    if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT or not isinstance(data.get("claims"), dict):
        raise SppConfigError("not an spp marker (no claims)", source=path, fix=_CORRUPT_FIX)
    return {str(name): Claim.from_dict(claim, path) for name, claim in data["claims"].items()}


def _write_claims(folder: Path, claims: dict[str, Claim]) -> None:
    path = folder / MARKER
    if not claims:
        path.unlink(missing_ok=True)
        return
    payload = {"format": MARKER_FORMAT, "version": 1, "claims": {n: asdict(c) for n, c in sorted(claims.items())}}
    tmp = folder / f".{MARKER}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def folder_entries(folder: Path) -> list[str]:
    """Top-level entries of ``folder`` that are not the marker (nor a marker being written)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name != MARKER and not p.name.startswith(f".{MARKER}.tmp"))


def _remove_entry(path: Path, preserve: Sequence[str], folder: Path) -> None:
    """Remove ``path`` (a file or a folder) except the ``preserve`` paths (relative to ``folder``) under it."""
    rel = path.relative_to(folder).as_posix()
    inner = [p for p in preserve if p.startswith(rel + "/")]
    if path.is_dir() and not path.is_symlink():
        if not inner:
            shutil.rmtree(path)
            return
        for child in path.iterdir():
            child_rel = child.relative_to(folder).as_posix()
            if child_rel in inner:
                continue
            _remove_entry(child, inner, folder)
    elif path.exists() or path.is_symlink():
        path.unlink()


class OutputClaim:
    """This run's claim on an output (see the module promises). ``files``: the names a named-file claim writes into
    ``path`` (a folder); without them the whole folder ``path`` is claimed."""

    def __init__(
        self,
        stage: str,
        path: str | Path,
        *,
        recipe_hash: str | None,
        data_view: str | None = None,
        inputs: Iterable[Any] = (),
        overwrite: bool = False,
        field: str = "output_dir",
        files: Sequence[str] | None = None,
        preserve: Sequence[str] = (),
    ):
        self.stage, self.folder = stage, Path(path)
        self.recipe_hash, self.data_view = recipe_hash, data_view
        self.inputs = [str(i) for i in inputs if i]
        self.overwrite, self.field, self.preserve = overwrite, field, tuple(preserve)
        self.targets = list(files) if files is not None else None
        self.name = self.targets[0] if self.targets else WHOLE
        self.removed: list[str] = []
        self.kept: list[str] = []
        self._existed = self.folder.exists()
        self._claims: dict[str, Claim] = {}
        self._conflicts: list[str] = []  # claims to remove (overwrite)
        self._taken = False
        self._fresh = True  # no claim of this output before this run
        self._before: list[str] = []

    # --- checks (nothing written) -------------------------------------------------------------------------------

    def check(self) -> OutputClaim:
        """Raise ``SppConfigError`` when this claim must be refused; writes nothing."""
        if self.folder.exists() and not self.folder.is_dir():
            what = "is a file, not a folder"
            raise SppConfigError(what, source=self.folder, field=self.field, fix="choose another path")
        outputs = [self.folder] if self.targets is None else [self.folder / t for t in self.targets]
        check_not_in_place(outputs, self.inputs, self.field)
        self._claims = read_claims(self.folder) or {}
        self._before = folder_entries(self.folder)
        if self.targets is None:
            self._check_folder()
        else:
            self._check_files()
        mine = self._claims.get(self.name)
        if mine is not None and self.name not in self._conflicts:
            self._check_same_run(mine)
        return self

    def _foreign(self, detail: str) -> SppConfigError:
        action = "; --overwrite deletes only what spp wrote, so it does not help here" if self.overwrite else ""
        return SppConfigError(
            f"{detail} and spp did not write it (no claim in {MARKER}): nothing was changed{action}",
            source=self.folder,
            field=self.field,
            fix=f"choose a new or empty {self._what}",
        )

    @property
    def _what(self) -> str:
        return "folder" if self.targets is None else "file name"

    @property
    def _machinery(self) -> set[str]:
        """Top-level entries this stage's own machinery makes before its claim (a job's ``.spp-work/`` locks): a
        folder holding only those is a sibling shard's claim in progress, not a foreign folder."""
        return {p.split("/")[0] for p in self.preserve}

    def _check_folder(self) -> None:
        entries = [e for e in folder_entries(self.folder) if e not in self._machinery]
        if not self._claims:
            if entries:
                raise self._foreign(f"this folder is not empty ({len(entries)} entries, e.g. {entries[:3]})")
            return
        for name, claim in self._claims.items():
            if name == WHOLE and claim.stage == self.stage:
                continue
            where = "this folder" if name == WHOLE else f"{name} in this folder"
            self._conflict(name, claim, f"{where} holds the output of {claim.describe()}, not of spp {self.stage}")

    def _check_files(self) -> None:
        whole = self._claims.get(WHOLE)
        if whole is not None:
            self._conflict(
                WHOLE, whole, f"this folder is the output folder of {whole.describe()}, not of spp {self.stage}"
            )
        for target in self.targets or []:
            if not (self.folder / target).exists() and not (self.folder / target).is_symlink():
                continue
            owner = next((n for n, c in self._claims.items() if target in c.files and n != WHOLE), None)
            if owner is None:
                if whole is None:
                    raise self._foreign(f"{self.folder / target} exists")
                continue
            claim = self._claims[owner]
            if owner != self.name or claim.stage != self.stage:
                self._conflict(owner, claim, f"{target} was written by {claim.describe()}")

    def _conflict(self, name: str, claim: Claim, detail: str) -> None:
        if not self.overwrite:
            raise SppConfigError(
                f"{detail}: nothing was changed",
                source=self.folder,
                field=self.field,
                fix=OVERWRITE_FIX.format(stage=claim.stage, what=self._what),
            )
        if name not in self._conflicts:
            self._conflicts.append(name)

    def _check_same_run(self, mine: Claim) -> None:
        """The same stage: refused (unless overwrite) when its recipe hash or data view differs."""
        changed = [
            f"{what} {old[:12]}, this run {new[:12]}"
            for what, old, new in (
                ("recipe hash", mine.recipe_hash, self.recipe_hash),
                ("data view", mine.data_view, self.data_view),
            )
            if old and new and old != new
        ]
        if changed:
            self._conflict(
                self.name,
                mine,
                f"this {self._what} holds spp {self.stage} output of another run ({'; '.join(changed)})",
            )

    def check_data_view(self, data_view: str) -> None:
        """The data view, known only once the run is built (pretraining): refused when the claimed output holds
        another one (unless overwrite, which already cleared it); else recorded."""
        mine = self._claims.get(self.name)
        previous = mine.data_view if mine is not None and self.name not in self._conflicts else None
        if previous and previous != data_view and not self.overwrite:
            raise SppConfigError(
                f"this folder holds spp {self.stage} output of another data view ({previous[:12]}, this run "
                f"{data_view[:12]}): nothing was changed",
                source=self.folder,
                field=self.field,
                fix=OVERWRITE_FIX.format(stage=self.stage, what=self._what),
            )
        if previous and previous != data_view and self._taken:  # overwrite: the other data view's files go
            mine = self._claims[self.name]
            self._remove_files(mine)
            mine.files = []
            _write_claims(self.folder, self._claims)
            logger.warning("--overwrite: removed %s (another data view) from %s", ", ".join(self.removed), self.folder)
        self.data_view = data_view
        if self._taken:
            self.record()

    # --- taking the claim -----------------------------------------------------------------------------------------

    def take(self) -> OutputClaim:
        """Remove the conflicting claims' files (``overwrite``), then write this claim (status ``running``)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for name in self._conflicts:
            self._remove_files(self._claims.pop(name))
        previous = self._claims.get(self.name)
        self._fresh = previous is None
        if self.targets is None:  # what was there at the check and is not spp's: a user's files
            owned = {e for c in self._claims.values() for e in c.files} | set(self.removed)
            self.kept = [e for e in self._before if e not in owned | self._machinery and (self.folder / e).exists()]
        if self.targets is None:
            files = [e for e in (previous.files if previous else []) if (self.folder / e).exists()]
        else:  # named files are reserved from the start: a run killed while writing them still owns them
            files = sorted(set(self.targets) | set(previous.files if previous else []))
        self._claims[self.name] = Claim(
            stage=self.stage,
            recipe_hash=self.recipe_hash,
            data_view=self.data_view or (previous.data_view if previous else None),
            files=files,
            kept=self.kept,
            inputs=self.inputs,
            spp_version=_version(),
        )
        _write_claims(self.folder, self._claims)
        self._taken = True
        self.record()  # what this run made since the check (a job's lock folder) is its own
        if self._conflicts:
            kept = self.kept or [e for e in folder_entries(self.folder) if e not in files]
            logger.warning(
                "--overwrite: removed what spp wrote in %s (%s); kept %s",
                self.folder,
                ", ".join(self.removed) or "nothing left to remove",
                ", ".join(kept) or "nothing else",
            )
        return self

    def _remove_files(self, claim: Claim) -> None:
        for entry in claim.files:
            path = self.folder / entry
            if path.exists() or path.is_symlink():
                _remove_entry(path, self.preserve, self.folder)
                self.removed.append(entry)

    def record(self, status: str | None = None) -> None:
        """Write the manifest as it is now: what this run (and the earlier runs of this claim) wrote."""
        claims = read_claims(self.folder) or {}
        mine = claims.get(self.name) or self._claims[self.name]
        present = set(folder_entries(self.folder))
        if self.targets is None:
            others = {e for n, c in claims.items() if n != self.name for e in c.files}
            files = sorted(present - set(mine.kept) - others)
        else:
            files = sorted(set(mine.files) | set(self.targets))
        claims[self.name] = Claim(**{**asdict(mine), "files": files, "data_view": self.data_view or mine.data_view})
        if status:
            claims[self.name].status = status
        _write_claims(self.folder, claims)

    def finish(self) -> None:
        self.record(status="done")

    def release(self, failed: bool, finished: bool = True) -> None:
        """After the run: the manifest recorded (status ``done`` when it ``finished`` without failing); a run that
        failed before writing anything leaves no marker, and no folder it created."""
        if not self._taken:
            return
        self.record(status="done" if finished and not failed else None)
        claims = read_claims(self.folder) or {}
        mine = claims.get(self.name)
        wrote = [f for f in (mine.files if mine else []) if (self.folder / f).exists()]
        if failed and self._fresh and mine is not None and not wrote and not self.removed:
            claims.pop(self.name)
            _write_claims(self.folder, claims)
            if not self._existed and not folder_entries(self.folder) and not claims:
                shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> OutputClaim:
        return self

    def __exit__(self, kind, *exc: object) -> None:
        self.release(failed=kind is not None)


def claim_output(stage: str, path: str | Path, **kwargs: Any) -> OutputClaim:
    """Check and take this run's claim on ``path`` (see ``OutputClaim``; the module promises)."""
    return OutputClaim(stage, path, **kwargs).check().take()


def clear_output(path: str | Path) -> list[str]:
    """Remove what spp wrote at ``path`` (a claimed folder's manifest entries, or a claimed file), keeping everything
    else; returns the entries removed. Used by ``spp experiment`` when a step's recipe changed (with
    ``spp.hub.owners.clear_export`` for a local export's refs)."""
    path = Path(path)
    folder, name = (path, None) if path.is_dir() else (path.parent, path.name)
    claims = read_claims(folder) or {}
    removed: list[str] = []
    for claim_name in list(claims):
        claim = claims[claim_name]
        if name is not None and name not in claim.files:
            continue
        for entry in claim.files:
            if (folder / entry).exists():
                _remove_entry(folder / entry, (), folder)
                removed.append(entry)
        claims.pop(claim_name)
    if folder.is_dir():
        _write_claims(folder, claims)
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()
    return removed


def _version() -> str:
    from spp import __version__

    return __version__
