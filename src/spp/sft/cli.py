"""``spp sft``: identical, persona-bound SFT of one base model.

    spp sft --config recipes/sft/identical.yaml --model_name_or_path runs/spp_t0 --output_dir runs/spp_t0-instruct
    spp sft --config recipes/sft/tiny.yaml --model_name_or_path runs/tiny --output_dir /tmp/tiny-instruct
    accelerate launch --config_file recipes/accelerate/ddp.yaml -m spp sft --config recipes/sft/identical.yaml ...

Every arm is post-trained with the same recipe; the SFT hash printed at the end (and written into the instruct
model's spp.json and card) must be the same for all of them.
"""

from __future__ import annotations

from spp.stages import stage_main

main = stage_main("sft")
