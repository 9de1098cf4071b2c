"""``spp sft``: identical, persona-bound SFT of one base model.

    spp sft --config recipes/sft/identical.yaml --model_name_or_path runs/spp_t0 --output_dir runs/spp_t0-instruct
    spp sft --config recipes/sft/tiny.yaml --model_name_or_path runs/tiny --output_dir /tmp/tiny-instruct
    accelerate launch --config_file recipes/accelerate/ddp.yaml -m spp sft --config recipes/sft/identical.yaml ...

Every arm is post-trained with the same recipe; the SFT hash printed at the end (and written into the instruct
model's spp.json and card) must be the same for all of them.
"""

from __future__ import annotations

from spp.recipes import parse_config
from spp.sft.config import SPPSFTConfig


def main(argv: list[str] | None = None) -> int:
    (config,) = parse_config([SPPSFTConfig], argv, prog="spp sft", description=__doc__.split("\n")[0])
    from spp.sft.train import run_sft, sft_summary

    result = run_sft(config)
    print(sft_summary(result))
    return 0
