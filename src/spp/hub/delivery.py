"""Where a publish goes and what it may carry: the tree staged once (release file rules, no pickles, no training
state), then delivered to the Hub (one commit, retried) or to a local export folder, byte for byte the same tree."""

from __future__ import annotations

import fnmatch
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.hub.access import ensure_online, get_api
from spp.hub.export import LocalExport
from spp.hub.refs import check_revision
from spp.hub.retry import RetryPolicy, with_retries
from spp.metadata import SppMetadata

logger = logging.getLogger("spp.hub")

# Never published: training state (large, and ``training_args.bin`` can hold a hub token), logs, our own staging,
# and the two files spp writes itself. Each pattern applies at any depth (``stage-1/checkpoint-5/optimizer.pt``).
_NEVER = [
    "checkpoint-*",
    "optimizer.*",
    "scheduler.pt",
    "rng_state*.pth",
    "training_args.bin",
    "global_step*",
    "runs/*",
    ".hub_staging*",
    ".git/*",
    ".cache/*",
]
MODEL_IGNORE = [*_NEVER, *(f"*/{p}" for p in _NEVER), "README.md", "spp.json"]
# What a released model tree may hold, at its top level only: safetensors weights, configs, tokenizer files.
RELEASE_FILES = [
    "*.safetensors",
    "*.safetensors.index.json",
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "tokenizer.model",
    "*.tiktoken",
]
# Files that can hold pickles (arbitrary code on load); none may reach a release tree, at any depth.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")


@dataclass
class PublishResult:
    """Where an artifact went: ``target`` is a repo id or an export folder; ``changed`` is ``False`` for a no-op."""

    target: str
    revision: str
    files: list[str] = field(default_factory=list)
    tag: str | None = None
    changed: bool = True


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (free, and it survives the trainer deleting ``src``), else copy it."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def stage_files(
    source: str | Path, dest: str | Path, ignore: list[str] = MODEL_IGNORE, allow: list[str] | None = None
) -> list[str]:
    """Link every file of ``source`` not matched by ``ignore`` into ``dest``; returns the relative paths.

    With ``allow``, only top-level files matching one of its patterns are considered at all.
    """
    from huggingface_hub.utils import filter_repo_objects

    root = Path(source)
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    if allow is not None:
        paths = [p for p in paths if "/" not in p and any(fnmatch.fnmatchcase(p, a) for a in allow)]
    kept = list(filter_repo_objects(paths, ignore_patterns=ignore))
    for rel in kept:
        link_or_copy(root / rel, Path(dest) / rel)
    return kept


def check_release_tree(tree: str | Path, source: str | Path | None = None) -> None:
    """Raise when a model release tree holds a pickle-capable file anywhere, or no safetensors weights; the error
    names ``source`` (the user's folder the tree was staged from) when given."""
    root = Path(tree)
    files = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    pickles = sorted(f for f in files if f.lower().endswith(PICKLE_SUFFIXES))
    if pickles:
        raise SppConfigError(
            f"a release tree may not hold pickle files: {pickles[:5]}",
            source=source or root,
            fix="save the model with safetensors (save_pretrained's default); training state stays out of releases",
        )
    if not any(f.endswith(".safetensors") for f in files):
        raise SppConfigError(
            "no safetensors weights to release (a model folder holds *.safetensors beside config.json)",
            source=source or root,
            fix="save the model with save_pretrained(safe_serialization=True); .bin/.pt weights are never published",
        )


def staging_dir(near: Path) -> tempfile.TemporaryDirectory:
    """A temporary folder on the same filesystem as ``near`` when writable there (hard links), else in ``/tmp``."""
    try:
        return tempfile.TemporaryDirectory(prefix=".spp-publish-", dir=near.parent)
    except OSError:
        return tempfile.TemporaryDirectory(prefix="spp-publish-")


def write_card_and_metadata(dest: str | Path, card: Any, meta: SppMetadata) -> None:
    """``README.md`` (the card) and ``spp.json`` into ``dest``."""
    Path(dest, "README.md").write_text(str(card).rstrip("\n") + "\n", encoding="utf-8")
    meta.save(dest)


def push_tree(
    tree: str | Path,
    *,
    repo_id: str,
    repo_type: str,
    revision: str,
    message: str,
    private: bool = False,
    tag: str | None = None,
    mirror: bool = False,
    create_repo: bool = True,
    api: Any = None,
    retry: RetryPolicy | None = None,
) -> None:
    """Upload ``tree`` as one commit on ``revision`` (created if missing); ``mirror`` also deletes remote extras.

    ``create_repo=False`` skips the repo-creation call (the caller knows the repo exists; the Hub rate-limits it).
    """
    api, retry = get_api(api), retry or RetryPolicy()
    where = f"{repo_type} {repo_id}@{revision}"
    if create_repo:
        with_retries(
            lambda: api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True), where, retry
        )
    if revision != "main":
        with_retries(
            lambda: api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True), where, retry
        )
    with_retries(
        lambda: api.upload_folder(
            repo_id=repo_id,
            folder_path=str(tree),
            repo_type=repo_type,
            revision=revision,
            commit_message=message,
            delete_patterns="*" if mirror else None,
        ),
        where,
        retry,
    )
    if tag:
        with_retries(
            lambda: api.create_tag(repo_id, tag=tag, revision=revision, repo_type=repo_type, exist_ok=True),
            where,
            retry,
        )
    logger.info("published %s%s", where, f" (tag {tag})" if tag else "")


def deliver(
    tree: Path,
    *,
    repo_id: str | None,
    to_dir: str | Path | None,
    repo_type: str,
    revision: str,
    message: str,
    private: bool = False,
    tag: str | None = None,
    mirror: bool = False,
    create_repo: bool = True,
    api: Any = None,
    retry: RetryPolicy | None = None,
) -> PublishResult:
    """Send a staged tree to the export folder (``to_dir``) if given, else to the Hub repo ``repo_id``."""
    files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    if to_dir is not None:
        export = LocalExport(to_dir, repo_id=repo_id, repo_type=repo_type)
        changed = export.write_tree(revision, tree)
        if tag:
            changed = export.tag(tag, revision) or changed
        return PublishResult(str(to_dir), revision, files, tag, changed)
    push_tree(
        tree,
        repo_id=repo_id or "",
        repo_type=repo_type,
        revision=revision,
        message=message,
        private=private,
        tag=tag,
        mirror=mirror,
        create_repo=create_repo,
        api=api,
        retry=retry,
    )
    return PublishResult(repo_id or "", revision, files, tag)


def check_target(repo_id: str | None, to_dir: str | Path | None, revision: str, tag: str | None) -> None:
    """A destination, plain ref names, and a reachable Hub when the Hub is the destination.

    With ``to_dir`` the tree goes to that export folder and ``repo_id`` (optional) only names the repo in cards and
    the index, so the folder holds exactly what a publish to ``repo_id`` would upload.
    """
    if repo_id is None and to_dir is None:
        raise SppConfigError("no destination", field="repo_id", fix="pass --repo_id ORG/NAME and/or --to_dir DIR")
    if repo_id is not None and repo_id.count("/") != 1:
        raise SppConfigError(f"'{repo_id}' is not a repo id", field="repo_id", fix="write it as ORG/NAME")
    check_revision(revision)
    if tag:
        check_revision(tag, field="tag")
    if to_dir is None:
        ensure_online(f"publish to {repo_id}")
