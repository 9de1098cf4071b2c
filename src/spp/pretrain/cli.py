"""``spp pretrain``: train one arm from the augmented corpus.

python -m spp.pretrain.demo runs/tiny-corpus
spp pretrain --config recipes/pretrain/tiny.yaml
accelerate launch --config_file recipes/accelerate/ddp.yaml -m spp pretrain --config recipes/pretrain/spp_t0.yaml
"""

from __future__ import annotations

import logging

from spp.cli import parse_config
from spp.errors import SppConfigError
from spp.metadata import SppMetadata, read_metadata
from spp.pretrain.builder import build_run
from spp.pretrain.config import SPPDataArguments, SPPModelArguments, SPPTrainingArguments
from spp.recipes import recipe_hash

logger = logging.getLogger("spp.pretrain")


def main(argv: list[str] | None = None) -> int:
    model_args, data_args, training_args = parse_config(
        [SPPModelArguments, SPPDataArguments, SPPTrainingArguments], argv, prog="spp pretrain"
    )
    if not data_args.dataset_path:
        raise SppConfigError("no corpus given", field="dataset_path", fix="set dataset_path in the recipe")
    run = build_run(model_args, data_args, training_args)
    dataset_meta = read_metadata(data_args.dataset_path)
    metadata = SppMetadata(
        kind="model",
        persona=dataset_meta.persona if dataset_meta else None,
        constitution=dataset_meta.constitution if dataset_meta else None,
        block_format={"marker": run.block_format.marker, "end_marker": run.block_format.end_marker},
        prompt_hash=dataset_meta.prompt_hash if dataset_meta else None,
        arm=data_args.arm,
        recipe_hash=recipe_hash(model_args, data_args, training_args),
        lineage={"dataset": data_args.dataset_path},
        details={"model_spec": model_args.model_spec, "schedule": run.view.schedule.describe()},
    )
    trainer = run.trainer(metadata=metadata)
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model()
    return 0
