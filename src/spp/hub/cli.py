"""``spp publish``, ``spp download`` and ``spp checkpoints``: releases to and from the Hub (or an export folder).

    spp publish model out/spp_t0 --repo_id ORG/spp-t0-1.7b --tag v1.0
    spp publish dataset data/augmented --repo_id ORG/spp-corpus --private
    spp publish model out/spp_t0 --to_dir release/spp-t0-1.7b          # stage a release on an air-gapped cluster
    spp download ORG/spp-t0-1.7b --revision step-0001000 --include "*.json" "*.safetensors" --to models/t0-1000
    spp checkpoints ORG/spp-t0-1.7b                                     # also: spp checkpoints release/spp-t0-1.7b
"""

from __future__ import annotations

from spp.stages import stage_main

__all__ = ["checkpoints_main", "download_main", "publish_main"]

publish_main = stage_main("publish")
download_main = stage_main("download")
checkpoints_main = stage_main("checkpoints")

