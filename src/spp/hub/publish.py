"""Publishing a model or a dataset, with its card and ``spp.json``, to the Hub or to a local export folder.

Both targets receive the same tree, built once in a staging folder: what ``--to_dir`` writes is exactly what would
be uploaded. Re-publishing an unchanged artifact commits nothing: the tree is byte-identical (deterministic card,
sorted ``spp.json``), ``huggingface_hub`` drops unchanged files and empty commits, and the export skips unchanged
revisions.

This module is the two entry points; the staging and delivery rules are ``spp.hub.delivery``, reading, counting and
laying out a dataset ``spp.hub.dataset_files``.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.hub.access import get_api
from spp.hub.cards import dataset_card, render_model_card
from spp.hub.dataset_files import (
    export_dataset_tree,
    load_local_dataset,
    metadata_with_statistics,
    push_dataset_data,
)
from spp.hub.delivery import (
    RELEASE_FILES,
    PublishResult,
    check_release_tree,
    check_target,
    deliver,
    stage_files,
    staging_dir,
    write_card_and_metadata,
)
from spp.hub.retry import RetryPolicy
from spp.metadata import SppMetadata, read_metadata

logger = logging.getLogger("spp.hub")


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
    meta = metadata_with_statistics(path, data, metadata)
    features = next(iter(data.values())).features
    retry = retry or RetryPolicy()
    with tempfile.TemporaryDirectory(prefix="spp-publish-") as tmp:
        tree = Path(tmp)
        if to_dir is not None:
            extra = export_dataset_tree(data, tree)
        else:
            api = get_api(api)
            extra = push_dataset_data(data, repo_id or "", revision, private, api, retry)
        write_card_and_metadata(tree, dataset_card(meta, features, repo_id, extra), meta)
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
