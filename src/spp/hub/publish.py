"""Publishing a model or a dataset, with its card and ``spp.json``, to the Hub or to a local export folder.

Both targets receive the same tree, built once in a staging folder: what ``--to_dir`` writes is exactly what would
be uploaded. Re-publishing an unchanged artifact commits nothing: the tree is byte-identical (deterministic card,
sorted ``spp.json``), ``huggingface_hub`` drops unchanged files and empty commits, and the export skips unchanged
revisions.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.hub.access import ensure_online, get_api
from spp.hub.cards import render_dataset_card, render_model_card
from spp.hub.export import LocalExport
from spp.hub.refs import check_revision
from spp.hub.retry import RetryPolicy, with_retries
from spp.metadata import SppMetadata, read_metadata

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
SHARD_BYTES = 500 * 2**20


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


def _model_metadata(path: Path, metadata: SppMetadata | None) -> SppMetadata:
    meta = metadata or read_metadata(path)
    if meta is None:
        logger.warning("%s has no spp.json: the card will say 'not recorded' for persona, arm and recipe", path)
        meta = SppMetadata(kind="model")
    return meta


def publish_model(
    path: str | Path,
    repo_id: str | None = None,
    to_dir: str | Path | None = None,
    revision: str = "main",
    tag: str | None = None,
    private: bool = False,
    eval_results: list[dict[str, Any]] | None = None,
    metadata: SppMetadata | None = None,
    api: Any = None,
    retry: RetryPolicy | None = None,
) -> PublishResult:
    """Publish the model folder ``path`` (weights, config, tokenizer) with its card and ``spp.json``.

    ``metadata`` overrides the folder's ``spp.json``; ``eval_results`` (``{benchmark, metric, value, dataset_id}``
    dicts) add an eval table and a ``model-index``. Only top-level safetensors weights, configs and tokenizer files
    (``RELEASE_FILES``) are shipped, never training state or a subfolder (``stage-1/checkpoint-*``); a tree with a
    pickle-capable file or without safetensors weights is refused. Fails at once, before any upload, on a bad target
    or ``HF_HUB_OFFLINE``.
    """
    path = Path(path)
    if not path.is_dir():
        raise SppConfigError("model folder not found", source=path, fix="pass the folder that save_model wrote")
    check_target(repo_id, to_dir, revision, tag)
    meta = _model_metadata(path, metadata)
    with staging_dir(path) as tmp:
        tree = Path(tmp)
        stage_files(path, tree, allow=RELEASE_FILES)
        check_release_tree(tree, source=path)
        write_card_and_metadata(tree, render_model_card(meta, eval_results, repo_id=repo_id), meta)
        message = f"spp: publish {meta.kind} ({meta.arm or 'arm not recorded'})"
        return deliver(
            tree,
            repo_id=repo_id,
            to_dir=to_dir,
            repo_type="model",
            revision=revision,
            message=message,
            private=private,
            tag=tag,
            api=api,
            retry=retry,
        )


def load_local_dataset(path: str | Path):
    """A ``DatasetDict`` from a ``save_to_disk`` folder, or from the parquet / jsonl files of a folder."""
    from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

    path = Path(path)
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        data = load_from_disk(str(path))
        return data if isinstance(data, DatasetDict) else DatasetDict({"train": data})
    for builder, pattern in (("parquet", "*.parquet"), ("json", "*.jsonl")):
        files = sorted(str(p) for p in path.rglob(pattern))
        if files:
            data = load_dataset(builder, data_files={"train": files}, split="train")
            return DatasetDict({"train": data}) if isinstance(data, Dataset) else data
    raise SppConfigError(
        "no dataset found", source=path, fix="pass a save_to_disk folder or a folder of .parquet / .jsonl files"
    )


def dataset_statistics(data) -> dict[str, Any]:
    """Rows by ``reflection_status`` and the ``harm_score`` histogram, over every split, where the columns exist."""
    counts: Counter = Counter()
    harm: Counter = Counter()
    for split in data.values():
        if "reflection_status" in split.column_names:
            counts.update(str(s) for s in split["reflection_status"])
        if "harm_score" in split.column_names:
            harm.update("missing" if h is None else str(round(float(h), 2)) for h in split["harm_score"])
    stats: dict[str, Any] = {}
    if counts:
        stats["counts"] = dict(sorted(counts.items()))
    if harm:
        stats["harm_histogram"] = dict(sorted(harm.items()))
    return stats


def _dataset_metadata(path: Path, data, metadata: SppMetadata | None) -> SppMetadata:
    meta = metadata or read_metadata(path)
    if meta is None:
        logger.warning("%s has no spp.json: the card will say 'not recorded' for its provenance", path)
        meta = SppMetadata(kind="dataset")
    return replace(meta, details={**dataset_statistics(data), **meta.details})


def _export_dataset_tree(data, tree: Path) -> dict[str, Any]:
    """Parquet shards laid out as ``datasets`` lays them out on the Hub; returns the card's ``configs`` YAML."""
    for split, ds in data.items():
        num_shards = max(1, math.ceil((ds.data.nbytes or 1) / SHARD_BYTES))
        for index in range(num_shards):
            shard = ds.shard(num_shards=num_shards, index=index, contiguous=True)
            out = tree / "data" / f"{split}-{index:05d}-of-{num_shards:05d}.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            shard.to_parquet(str(out))
    data_files = [{"split": split, "path": f"data/{split}-*"} for split in data]
    return {"configs": [{"config_name": "default", "data_files": data_files}]}


def _push_dataset_data(data, repo_id: str, revision: str, private: bool, api: Any, retry: RetryPolicy) -> dict:
    """Push every split through ``datasets``' own ``push_to_hub``; returns the YAML it wrote, to keep in our card."""
    from huggingface_hub import DatasetCard

    where = f"dataset {repo_id}@{revision}"
    with_retries(lambda: api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True), where, retry)
    for split, ds in data.items():
        with_retries(
            lambda ds=ds, split=split: ds.push_to_hub(
                repo_id, split=split, revision=revision, private=private, commit_message=f"spp: upload {split} split"
            ),
            where,
            retry,
        )
    readme = api.hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=revision)
    written = DatasetCard(Path(readme).read_text(encoding="utf-8")).data.to_dict()
    return {key: written[key] for key in ("configs", "dataset_info") if key in written}


def _dataset_card(meta: SppMetadata, features: Any, repo_id: str | None, extra: dict[str, Any]):
    """The card for ``meta``'s kind of dataset: a persona-binding set has its own, else the augmented corpus card."""
    from spp.bind.card import is_bind_dataset, render_bind_card

    render = render_bind_card if is_bind_dataset(meta) else render_dataset_card
    return render(meta, features, repo_id=repo_id, card_data_extra=extra)


def publish_dataset(
    path: str | Path,
    repo_id: str | None = None,
    to_dir: str | Path | None = None,
    revision: str = "main",
    tag: str | None = None,
    private: bool = False,
    metadata: SppMetadata | None = None,
    api: Any = None,
    retry: RetryPolicy | None = None,
) -> PublishResult:
    """Publish the dataset at ``path`` with its card and ``spp.json``: data first, then the card.

    On the Hub the data goes through ``datasets``' ``push_to_hub`` (parquet shards, ``configs`` YAML); the card keeps
    the YAML ``datasets`` wrote, so re-running commits nothing new. ``to_dir`` writes the same layout as a local export.
    Row counts by status and the harm-score histogram are computed from the data when ``spp.json`` lacks them.
    """
    path = Path(path)
    check_target(repo_id, to_dir, revision, tag)
    data = load_local_dataset(path)
    meta = _dataset_metadata(path, data, metadata)
    features = next(iter(data.values())).features
    retry = retry or RetryPolicy()
    with tempfile.TemporaryDirectory(prefix="spp-publish-") as tmp:
        tree = Path(tmp)
        if to_dir is not None:
            extra = _export_dataset_tree(data, tree)
        else:
            api = get_api(api)
            extra = _push_dataset_data(data, repo_id or "", revision, private, api, retry)
        write_card_and_metadata(tree, _dataset_card(meta, features, repo_id, extra), meta)
        return deliver(
            tree,
            repo_id=repo_id,
            to_dir=to_dir,
            repo_type="dataset",
            revision=revision,
            message="spp: dataset card and spp.json",
            private=private,
            tag=tag,
            create_repo=False,
            api=api,
            retry=retry,
        )
