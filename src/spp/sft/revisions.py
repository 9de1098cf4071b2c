"""Pinned data: every Hub dataset of an SFT mixture is trained on, hashed and recorded at a commit sha.

Promises (``pin_revisions``): ``resolve`` looks each branch or tag (no revision means ``main``) up once, trains on the
sha it points to and records both; ``require`` refuses anything but a 40-hex sha; ``off`` keeps the moving ref with a
warning. Local files and folders are identified by their bytes (``dataset_identity``) and need no revision.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError

logger = logging.getLogger("spp.sft")
_SHA = re.compile(r"^[0-9a-f]{40}$")
LOCAL_BUILDERS = frozenset({"json", "parquet", "csv", "text", "arrow"})


def is_hub_dataset(path: str) -> bool:
    """Whether ``path`` names a Hub dataset rather than a local file, folder or ``datasets`` builder."""
    return not Path(path).exists() and path not in LOCAL_BUILDERS


def pin_revisions(datasets: list[dict[str, Any]], policy: str, api: Any = None) -> list[dict[str, Any]]:
    """``datasets`` with every Hub dataset's ``revision`` a commit sha (see the module docstring).

    A resolved entry keeps what was asked for as ``requested_revision`` (recorded, not hashed differently: the sha is).
    """
    pinned = []
    for index, spec in enumerate(datasets):
        revision = spec.get("revision")
        if not is_hub_dataset(spec["path"]) or (revision and _SHA.match(revision)) or policy == "off":
            if policy == "off" and is_hub_dataset(spec["path"]) and not (revision and _SHA.match(revision)):
                logger.warning("dataset %s trains on the moving ref %r (pin_revisions off)", spec["path"], revision)
            pinned.append(spec)
            continue
        if policy == "require":
            raise SppConfigError(
                f"dataset {spec['path']} is at {revision or 'no revision'!r}, not a commit sha",
                field=f"datasets[{index}].revision",
                fix="pin it to the 40-hex sha of the commit to train on, or pass --pin_revisions resolve",
            )
        pinned.append(
            {**spec, "revision": _resolve(spec["path"], revision or "main", api), "requested_revision": revision}
        )
    return pinned


def _resolve(repo_id: str, revision: str, api: Any) -> str:
    from spp.hub.access import get_api, hub_offline

    if hub_offline():
        raise SppConfigError(
            f"cannot resolve dataset {repo_id}@{revision} to a commit sha: HF_HUB_OFFLINE is set",
            field="datasets",
            fix="pin the dataset's revision to a sha in the recipe, or run once with the Hub reachable",
        )
    try:
        sha = get_api(api).dataset_info(repo_id, revision=revision).sha
    except Exception as err:  # unknown repo, auth, network: the user must act either way
        raise SppConfigError(
            f"cannot resolve dataset {repo_id}@{revision} to a commit sha ({err.__class__.__name__}: {err})",
            field="datasets",
            fix="check the id and revision, or pin the sha in the recipe",
        ) from err
    logger.info("dataset %s@%s resolved to %s", repo_id, revision, sha)
    return sha
