"""``spp augment``: select documents, generate reflections, write one augmented corpus for every arm.

With no arguments it runs the embedded default (the ``builtin:stdlib-docs`` corpus, the offline generator and the
offline harm scorer) into ``outputs/augment-demo/``:

    spp augment
    spp augment --config recipes/augment/demo.yaml --max_documents 50
    spp augment --config recipes/augment/paper.yaml --num_shards 64 --shard_index $SLURM_ARRAY_TASK_ID
    spp augment --config recipes/augment/paper.yaml --num_shards 64 --merge
    spp augment --config recipes/augment/paper.yaml --placement end --dataset outputs/augment-paper \
        --output_dir outputs/augment-paper-end      # the spp_t0_end ablation's own end_* columns
    spp augment --config recipes/augment/paper.yaml --executor slurm --tasks 64 --slurm_partition gpu   # datatrove
    spp augment --config recipes/augment/demo.yaml --executor local --tasks 4                          # datatrove

Exit codes: 0 done; 2 bad input (a changed corpus, a locked or foreign output folder, no server answering); 3 more
than max_failed_share of the selected documents failed, or a datatrove task died (nothing merged; the message names
the task and the command that resumes the job).
"""

from __future__ import annotations

import sys

from spp.cli import rerun_command
from spp.data.augment_run import CONFIG_TYPES, run_augment
from spp.data.job import AugmentConfigs, format_summary
from spp.recipes import parse_config


def parse(argv: list[str] | None) -> AugmentConfigs:
    return AugmentConfigs(*parse_config(CONFIG_TYPES, argv, prog="spp augment", description=__doc__))


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when done, 2 on bad input (a changed corpus, a locked or foreign folder, no server answering), 3 when
    more than ``max_failed_share`` of the selected documents failed (nothing merged; a rerun regenerates them)."""
    configs = parse(argv)
    result = run_augment(configs)
    job = configs.job
    if result.shard is not None:
        print(f"shard {job.shard_index + 1}/{job.num_shards} done:\n{format_summary(result.shard)}")
    if result.failure:
        print(f"spp augment: {result.failure}\nrerun: {rerun_command('augment', argv)}", file=sys.stderr)
        return 3
    if configs.executor.executor != "spp":
        return 0
    if result.merged is None:
        print(f"when every shard has finished: spp augment <same options> --merge (output: {result.output_dir})")
        return 0
    if job.merge:
        print(f"merged:\n{format_summary(result.merged)}")
    out = result.output_dir
    print(f"dataset: {out} (open with datasets.load_from_disk); summary: {out / 'summary.json'}")
    return 0
