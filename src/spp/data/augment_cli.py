"""``spp augment``: select documents, generate reflections, write one augmented corpus for every arm.

With no arguments it runs the embedded default (the ``builtin:stdlib-docs`` corpus, the offline generator and the
offline harm scorer) into ``outputs/augment-demo/``:

    spp augment
    spp augment --config recipes/augment/demo.yaml --max_documents 50
    spp augment --config recipes/augment/paper.yaml --num_shards 64 --shard_index $SLURM_ARRAY_TASK_ID
    spp augment --config recipes/augment/paper.yaml --num_shards 64 --merge
    spp augment --config recipes/augment/paper.yaml --placement end --dataset outputs/augment-paper \\
        --output_dir outputs/augment-paper-end      # the spp_t0_end ablation's own end_* columns
    spp augment --config recipes/augment/paper.yaml --executor slurm --tasks 64 --slurm_partition gpu   # datatrove
    spp augment --config recipes/augment/demo.yaml --executor local --tasks 4                          # datatrove

Exit codes: 0 done; 2 bad input (a changed corpus, a locked or foreign output folder, no server answering); 3 more
than max_failed_share of the selected documents failed, or a datatrove task died (nothing merged; the message names
the task and the command that resumes the job).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spp.stages import get_stage, stage_main

if TYPE_CHECKING:
    from spp.data.job import AugmentConfigs

main = stage_main("augment")


def parse(argv: list[str] | None) -> AugmentConfigs:
    """The configs ``argv`` gives, bundled as ``run_augment`` takes them."""
    from spp.data.job import AugmentConfigs

    return AugmentConfigs(*get_stage("augment").parse(argv))
