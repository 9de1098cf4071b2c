"""A dataset as ``spp publish dataset`` ships it: read from a local folder, counted (statuses, harm scores), laid out
as parquet shards the way ``datasets`` lays them out on the Hub, pushed split by split, and its card."""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.hub.retry import RetryPolicy, with_retries
from spp.metadata import SppMetadata, read_metadata

logger = logging.getLogger("spp.hub")
SHARD_BYTES = 500 * 2**20


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


def metadata_with_statistics(path: Path, data, metadata: SppMetadata | None) -> SppMetadata:
    """``metadata`` (else the folder's ``spp.json``) with the counts ``dataset_statistics`` finds in the data."""
    meta = metadata or read_metadata(path)
    if meta is None:
        logger.warning("%s has no spp.json: the card will say 'not recorded' for its provenance", path)
        meta = SppMetadata(kind="dataset")
    return replace(meta, details={**dataset_statistics(data), **meta.details})


def export_dataset_tree(data, tree: Path) -> dict[str, Any]:
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


def push_dataset_data(data, repo_id: str, revision: str, private: bool, api: Any, retry: RetryPolicy) -> dict:
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
