"""Release registries: what a published study's Hub artifacts are, as data (``recipes/releases/<name>.yaml``).

A registry says which repo holds which arm at which size (``models: {arm: {size: {base, instruct}}}``), the chat
template and system turn its instruct models are prompted with, its tokenizer facts, how its trajectories name their
``step-*`` revisions, and the figures its paper reports (shown beside measured ones, labelled "as reported"). Its
``verified`` line says which of these facts were checked against the files.

Promises:
- ``load_release`` takes a path or a name (``dlab-spp``: ``recipes/releases/dlab-spp.yaml`` under the working
  folder, else under spp's source checkout, else the copy shipped in the package); a missing file or a malformed
  field is ``SppConfigError`` naming it.
- ``lookup(repo_id)`` searches the registries (``auto``: every registry found, one per name);
  ``Release.find(repo_id)`` gives ``(arm, size, kind)`` only for a repo the registry lists (under its org or a
  mirror org): a model is never given an arm by a guess from its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from spp.errors import SppConfigError, yaml_error

RELEASES_DIR = Path("recipes") / "releases"
# The shipped registries (recipes/releases/ is a link to this folder, as hub_cards/ is): a pip-installed spp finds
# `dlab-spp` without a checkout.
PACKAGED_DIR = Path(__file__).parent / "release_registries"


def _roots() -> list[Path]:
    """Where registries are looked for, first match of a name wins: the working folder's ``recipes/releases/``,
    spp's source checkout's, then the copies shipped in the package."""
    checkout = Path(__file__).resolve().parents[2]
    return list(dict.fromkeys([Path.cwd().resolve() / RELEASES_DIR, checkout / RELEASES_DIR, PACKAGED_DIR]))
KINDS = ("base", "instruct")


@dataclass(frozen=True)
class Release:
    """One registry file, read (see the module docstring for the fields)."""

    name: str
    path: Path
    verified: str
    models: dict[str, dict[str, dict[str, str]]]
    orgs: list[str] = field(default_factory=list)
    arms: dict[str, str] = field(default_factory=dict)
    chat_template: str = "model"
    system_prompt: str = "none"
    tokenizer: dict[str, Any] = field(default_factory=dict)
    branch_pattern: str = ""
    tokens_per_step: int = 0
    weights: dict[str, Any] = field(default_factory=dict)
    reported: dict[str, Any] = field(default_factory=dict)
    paper: str = ""

    def repo(self, arm: str, size: str = "1.7b", kind: str = "instruct") -> str:
        """The repo id of ``arm`` at ``size`` (``kind``: base or instruct); ``SppConfigError`` when not listed."""
        try:
            return self.models[arm][size][kind]
        except KeyError:
            raise SppConfigError(
                f"{self.name} lists no {kind} model for arm {arm!r} at size {size!r}",
                source=self.path,
                field="models",
                fix=f"arms: {', '.join(self.models)}",
            ) from None

    def find(self, repo_id: str) -> tuple[str, str, str] | None:
        """``(arm, size, kind)`` of a listed repo (its own org or a mirror org), else ``None``."""
        name = repo_id.split("/")[-1] if "/" in repo_id else None
        org = repo_id.split("/")[0] if name else None
        for arm, sizes in self.models.items():
            for size, kinds in sizes.items():
                for kind, repo in kinds.items():
                    if repo == repo_id or (org in self.orgs and repo.split("/")[-1] == name):
                        return arm, size, kind
        return None

    def describe(self) -> dict[str, str]:
        """What a result records about the registry it used."""
        return {"name": self.name, "path": str(self.path), "verified": self.verified.split(".")[0]}


def release_path(spec: str) -> Path:
    """The registry file ``spec`` names: a path, or a name under ``recipes/releases/`` (working folder, then spp's
    source checkout)."""
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise SppConfigError(f"release registry {spec!r} does not exist", field="release")
        return path
    for root in _roots():
        candidate = root / f"{spec}.yaml"
        if candidate.is_file():
            return candidate
    raise SppConfigError(
        f"no release registry named {spec!r} (looked for {RELEASES_DIR}/{spec}.yaml here, in spp's checkout and "
        "among the registries spp ships)",
        field="release",
        fix="give the registry file's path (e.g. recipes/releases/dlab-spp.yaml)",
    )


def _check_models(models: Any, path: Path) -> dict[str, dict[str, dict[str, str]]]:
    if not isinstance(models, dict) or not models:
        raise SppConfigError(
            "no models listed", source=path, field="models", fix="models: {ARM: {SIZE: {base, instruct}}}"
        )
    for arm, sizes in models.items():
        if not isinstance(sizes, dict) or not all(isinstance(k, dict) for k in sizes.values()):
            raise SppConfigError(f"arm {arm!r} is not a mapping of sizes to {{base, instruct}}", source=path,
                                 field=f"models.{arm}")  # fmt: skip
        for size, kinds in sizes.items():
            bad = [k for k, v in kinds.items() if k not in KINDS or not isinstance(v, str) or v.count("/") != 1]
            if bad:
                raise SppConfigError(f"{arm} {size}: {bad} is not base/instruct: ORG/NAME", source=path,
                                     field=f"models.{arm}.{size}")  # fmt: skip
    return {str(a): {str(s): dict(k) for s, k in sizes.items()} for a, sizes in models.items()}


def load_release(spec: str) -> Release:
    """The registry ``spec`` names (a path or a name), checked (see the module docstring)."""
    path = release_path(spec)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise yaml_error(err, str(path)) from err
    if not isinstance(data, dict):
        raise SppConfigError("a release registry is a mapping", source=path)
    if not str(data.get("verified") or "").strip():
        raise SppConfigError(
            "no `verified` line", source=path, field="verified", fix="say which facts were checked against the files"
        )
    known = {f for f in Release.__dataclass_fields__ if f != "path"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SppConfigError(f"unknown keys {unknown}", source=path, fix=f"use {sorted(known)}")
    values = {**data, "models": _check_models(data.get("models"), path), "name": str(data.get("name") or path.stem)}
    values["tokens_per_step"] = int(values.get("tokens_per_step") or 0)
    values["arms"] = dict(values.get("arms") or {})
    return Release(path=path, **values)


def registry_files() -> list[Path]:
    """Every registry, one per name (the working folder's, else spp's checkout's, else the shipped copy)."""
    found: dict[str, Path] = {}
    for root in _roots():
        for path in sorted(root.glob("*.yaml")):
            found.setdefault(path.name, path.resolve())
    return [found[name] for name in sorted(found)]


def lookup(repo_id: str, spec: str = "auto") -> tuple[Release, str, str, str] | None:
    """``(release, arm, size, kind)`` of ``repo_id`` in the registry ``spec`` (a name or path; ``auto``: every
    ``registry_files()``; ``none`` or empty: no lookup), or ``None`` when no registry lists it."""
    if not spec or spec == "none":
        return None
    paths = registry_files() if spec == "auto" else [release_path(spec)]
    for path in paths:
        release = load_release(str(path))
        found = release.find(repo_id)
        if found is not None:
            return (release, *found)
    return None
