"""``spp pretrain``: train one arm from the augmented corpus.

    python -m spp.demo.corpus runs/tiny-corpus
    spp pretrain --config recipes/pretrain/tiny.yaml
    accelerate launch --config_file recipes/accelerate/ddp.yaml -m spp pretrain --config recipes/pretrain/smollm2-1.7b.yaml --arm baseline --output_dir runs/spp-1.7b-baseline
"""

from __future__ import annotations

from spp.stages import stage_main

main = stage_main("pretrain")
