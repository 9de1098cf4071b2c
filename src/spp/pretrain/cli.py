"""``spp pretrain``: train one arm from the augmented corpus.

python -m spp.demo.corpus runs/tiny-corpus
spp pretrain --config recipes/pretrain/tiny.yaml
accelerate launch --config_file recipes/accelerate/ddp.yaml -m spp pretrain \\
    --config recipes/pretrain/smollm2-1.7b.yaml --arm baseline --output_dir runs/spp-1.7b-baseline
"""

from __future__ import annotations

from spp.pretrain.run import CONFIG_TYPES, run_pretrain
from spp.recipes import parse_config


def main(argv: list[str] | None = None) -> int:
    configs = parse_config(CONFIG_TYPES, argv, prog="spp pretrain")
    run_pretrain(*configs)  # the trainer logs progress and where the model went
    return 0
