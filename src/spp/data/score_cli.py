"""``spp score-harm``: add a ``harm_score`` column to a dataset, and record the score histogram in ``spp.json``.

    spp score-harm --dataset corpus.jsonl --output_dir outputs/scored                       # offline scorer
    spp score-harm --config recipes/score/safelm.yaml --dataset HuggingFaceFW/fineweb-edu \\
        --dataset_config sample-10BT --streaming true --max_documents 100000 --output_dir outputs/scored

The output is a ``save_to_disk`` folder that ``spp augment --dataset <it>`` reads (stratified selection and the
filtered arm use its ``harm_score``). Rows are unchanged and in the same order.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.data.augment import harm_key
from spp.data.scoring import HarmScoreConfig, HarmScoreMap, build_scorer
from spp.data.sources import SourceConfig, load_source
from spp.errors import SppConfigError, check_output_dir
from spp.metadata import SppMetadata

logger = logging.getLogger("spp.data")


@dataclass
class ScoreJobConfig:
    """Where the scored dataset goes."""

    output_dir: str = field(default="outputs/scored", metadata={"help": "Folder of the scored dataset."})
    harm_threshold: float = field(
        default=3.0, metadata={"help": "Rows at or above this score are counted as harmful in spp.json."}
    )
    score_batch_size: int = field(default=256, metadata={"help": "Documents per call of the scorer."})

    def __post_init__(self) -> None:
        check_output_dir(self.output_dir)
        if self.score_batch_size < 1:
            raise SppConfigError(f"must be at least 1, got {self.score_batch_size}", field="score_batch_size")


def score_dataset(data, scorer, text_column: str, column: str, batch_size: int = 256):
    """``data`` with ``column`` added by ``scorer`` (a ``Dataset`` or an ``IterableDataset``), same rows, same order."""
    fn = HarmScoreMap(scorer, text_column=text_column, column=column)
    if hasattr(data, "__len__"):
        # An explicit fingerprint: hashing a captured model would be slow and would not reuse the cache anyway.
        key = f"{data._fingerprint}:{scorer.model_id}:{json.dumps(vars(scorer.config), sort_keys=True)}"
        fingerprint = hashlib.sha256(key.encode()).hexdigest()[:16]
        return data.map(fn, batched=True, batch_size=batch_size, new_fingerprint=fingerprint, desc="score-harm")
    return data.map(fn, batched=True, batch_size=batch_size)


def harm_details(
    scores: list[float | None], threshold: float, config: HarmScoreConfig, model_id: str
) -> dict[str, Any]:
    """The ``spp.json`` details of a scored corpus: histogram and the count at or above ``threshold``."""
    histogram = Counter(harm_key(s) for s in scores)
    return {
        "rows": len(scores),
        "harm": {"scorer": config.harm_scorer, "model": model_id, "aggregation": config.harm_aggregation},
        "harm_threshold": threshold,
        "harm_histogram": dict(sorted(histogram.items())),
        "rows_at_or_above_threshold": sum(s is not None and s >= threshold for s in scores),
    }


def main(argv: list[str] | None = None) -> int:
    from datasets import Dataset

    from spp.cli import parse_config

    job, source, harm = parse_config(
        [ScoreJobConfig, SourceConfig, HarmScoreConfig], argv, prog="spp score-harm", description=__doc__
    )
    scorer = build_scorer(harm)
    if scorer is None:
        raise SppConfigError(
            "harm_scorer is 'none': nothing to do", field="harm_scorer", fix="use offline or transformers"
        )
    data = load_source(source)
    scored = score_dataset(data, scorer, source.text_column, harm.harm_score_column, job.score_batch_size)
    if not hasattr(scored, "__len__"):
        scored = Dataset.from_generator(lambda: (yield from scored), features=scored.features)
    out = Path(job.output_dir)
    scored.save_to_disk(str(out))
    details = harm_details(scored[harm.harm_score_column], job.harm_threshold, harm, scorer.model_id)
    details["source"] = source.describe()
    SppMetadata(kind="dataset", lineage={"source": source.describe()}, details=details).save(out)
    print(
        f"scored {details['rows']} rows in {scorer.seconds:.1f} s of scoring; "
        f"{details['rows_at_or_above_threshold']} at or above {job.harm_threshold}; histogram {details['harm_histogram']}"
    )
    print(f"dataset: {out} (open with datasets.load_from_disk)")
    return 0
