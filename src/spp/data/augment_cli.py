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
than max_failed_share of the selected documents failed (nothing merged; rerun to regenerate only those).
"""

from __future__ import annotations

import sys

from spp.contract import ReflectionContract
from spp.data.executor import ExecutorConfig
from spp.data.fit import ReflectionFitConfig
from spp.data.job import AugmentConfigs, AugmentJob, AugmentJobConfig, format_summary
from spp.data.scoring import HarmScoreConfig
from spp.data.selection import SelectionConfig
from spp.data.sources import SourceConfig
from spp.generate.base import GeneratorConfig
from spp.generate.validate import ValidationConfig
from spp.persona.cli import PersonaConfig

CONFIG_TYPES = [
    AugmentJobConfig,
    SourceConfig,
    SelectionConfig,
    HarmScoreConfig,
    PersonaConfig,
    GeneratorConfig,
    ValidationConfig,
    ReflectionContract,
    ReflectionFitConfig,
    ExecutorConfig,
]


def parse(argv: list[str] | None) -> AugmentConfigs:
    from spp.cli import parse_config

    return AugmentConfigs(*parse_config(CONFIG_TYPES, argv, prog="spp augment", description=__doc__))


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when done, 2 on bad input (a changed corpus, a locked or foreign folder, no server answering), 3 when
    more than ``max_failed_share`` of the selected documents failed (nothing merged; a rerun regenerates them)."""
    configs = parse(argv)
    if configs.executor.executor != "spp":
        from spp.data.datatrove_backend import run_with_datatrove

        return run_with_datatrove(configs)
    with AugmentJob(configs) as job:
        if not configs.job.merge:
            result = job.run_shard()
            print(f"shard {configs.job.shard_index + 1}/{configs.job.num_shards} done:\n{format_summary(result)}")
            if failure := job.failure(result):
                print(f"spp augment: {failure}", file=sys.stderr)
                return 3
            if configs.job.num_shards > 1:
                print(f"when every shard has finished: spp augment <same options> --merge (output: {job.output_dir})")
                return 0
            job.merge()
        else:
            if failure := job.failure():
                print(f"spp augment: {failure}", file=sys.stderr)
                return 3
            print(f"merged:\n{format_summary(job.merge())}")
    print(f"dataset: {job.output_dir} (open with datasets.load_from_disk); summary: {job.output_dir / 'summary.json'}")
    return 0
