"""SFT data: load chat datasets in ``messages`` form, mix them by proportion, and build the two citation stages.

Promises:
- ``mix`` is deterministic in ``seed``: each dataset is shuffled with it, then the first rows are kept so that each
  dataset's share of the result is its proportion (normalised), without repeating any row; the result is as large as
  that allows.
- ``strip_citations`` removes every constitution citation (``[2.3]``, ``[1.2, 1.4]``, ``[1.2][1.4]``) and the space
  in front of it, and changes nothing else; only assistant turns are stripped.
- ``dataset_identity`` is what the SFT hash sees of a dataset: a Hub id with its revision, or, for local files, the
  sha256 of their bytes (so the same data hashes the same on every machine, wherever it lies).
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spp.errors import SppConfigError

if TYPE_CHECKING:
    from spp.sft.config import SFTDataset, SPPSFTConfig

logger = logging.getLogger("spp.sft")

_GROUP = r"\[\s*\d+\.\d+\s*(?:[,;]\s*\d+\.\d+\s*)*\]"
CITATION = re.compile(rf"(?m)^{_GROUP}[ \t]*|[ \t]*{_GROUP}")
LOCAL_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}


def strip_citations(text: str) -> str:
    """``text`` without its ``[X.Y]`` citations (see the module docstring)."""
    return CITATION.sub("", text)


def strip_assistant_citations(example: dict[str, Any]) -> dict[str, Any]:
    """A ``Dataset.map`` function: ``messages`` with the citations removed from assistant turns only."""
    return {
        "messages": [
            {**m, "content": strip_citations(m["content"])} if m["role"] == "assistant" else m
            for m in example["messages"]
        ]
    }


def _local_files(spec: SFTDataset) -> list[Path]:
    if Path(spec.path).is_file():
        return [Path(spec.path)]
    if spec.path in set(LOCAL_BUILDERS.values()) and spec.data_files:
        files = [spec.data_files] if isinstance(spec.data_files, str) else list(spec.data_files)
        return [Path(f) for f in files]
    return []


def load_sft_dataset(spec: SFTDataset):
    """The ``messages`` column of one dataset of the mixture (other columns are dropped)."""
    import datasets

    local = Path(spec.path)
    if local.is_file():
        builder = LOCAL_BUILDERS.get(local.suffix)
        if builder is None:
            raise SppConfigError(
                f"unknown data file type {local.suffix!r}", source=local, fix="use .jsonl or .parquet"
            )
        data = datasets.load_dataset(builder, data_files=str(local), split=spec.split)
    elif local.is_dir() and (local / "dataset_info.json").is_file():
        data = datasets.load_from_disk(str(local))
    else:
        data = datasets.load_dataset(
            spec.path, name=spec.name, data_files=spec.data_files, split=spec.split, revision=spec.revision
        )
    if "messages" not in data.column_names:
        raise SppConfigError(
            f"no 'messages' column (columns: {data.column_names})",
            source=spec.path,
            fix="SFT data must be chat data: a 'messages' list of {role, content} per row",
        )
    return data.select_columns(["messages"])


def mix(parts: list, proportions: list[float | None], seed: int = 0):
    """Concatenate ``parts`` (all proportions ``None``) or mix them by proportion (see the module docstring)."""
    from datasets import concatenate_datasets

    if all(p is None for p in proportions):
        return concatenate_datasets(parts)
    if any(p is None for p in proportions):
        raise SppConfigError("set 'proportion' on every dataset of a stage or on none", field="datasets")
    weights = [p / sum(proportions) for p in proportions]
    total = min(len(part) / w for part, w in zip(parts, weights, strict=True))
    picked = [part.shuffle(seed=seed).select(range(round(w * total))) for part, w in zip(parts, weights, strict=True)]
    return concatenate_datasets(picked).flatten_indices()


def stage_datasets(config: SPPSFTConfig) -> list:
    """The training data of each SFT stage: one dataset, or two with ``citation_stage`` ``strip``/``datasets``."""
    specs = config.dataset_specs
    by_stage = {stage: [s for s in specs if s.stage == stage] for stage in (1, 2)}
    if not by_stage[1]:
        raise SppConfigError("no stage-1 dataset", field="datasets", fix="list at least one dataset in the recipe")
    if by_stage[2] and config.citation_stage != "datasets":
        raise SppConfigError(
            "datasets with stage: 2 are only used with citation_stage: datasets", field="citation_stage"
        )
    if config.citation_stage == "datasets" and not by_stage[2]:
        raise SppConfigError("citation_stage 'datasets' needs datasets with stage: 2", field="datasets")
    stages = [_stage(by_stage[1], config.mixture_seed)]
    if config.citation_stage == "strip":
        stages.append(stages[0].map(strip_assistant_citations, desc="Stripping citations"))
    elif config.citation_stage == "datasets":
        stages.append(_stage(by_stage[2], config.mixture_seed))
    for number, data in enumerate(stages, 1):
        logger.info("SFT stage %d: %d conversations", number, len(data))
    return stages


def _stage(specs: list[SFTDataset], seed: int):
    return mix([load_sft_dataset(s) for s in specs], [s.proportion for s in specs], seed)


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def dataset_identity(spec: SFTDataset) -> dict[str, Any]:
    """What the SFT hash records of ``spec`` (see the module docstring)."""
    identity = {"split": spec.split, "name": spec.name, "proportion": spec.proportion, "stage": spec.stage}
    files = _local_files(spec)
    if files:
        return {**identity, "sha256": _sha256(files)}
    if Path(spec.path).is_dir():
        return {**identity, "sha256": _sha256(sorted(p for p in Path(spec.path).rglob("*") if p.is_file()))}
    if spec.revision is None:
        logger.warning("dataset %s has no pinned revision: pin one so the SFT hash identifies the data", spec.path)
    return {**identity, "path": spec.path, "revision": spec.revision, "data_files": spec.data_files}
