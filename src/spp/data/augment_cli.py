"""``spp augment``: select documents, generate reflections, write one augmented corpus for every arm.

With no arguments it runs the embedded default (the ``builtin:stdlib-docs`` corpus, the offline generator and the
offline harm scorer) into ``outputs/augment-demo/``:

    spp augment
    spp augment --config recipes/augment/demo.yaml --max_documents 50
    spp augment --config recipes/augment/paper.yaml --num_shards 64 --shard_index $SLURM_ARRAY_TASK_ID
    spp augment --config recipes/augment/paper.yaml --num_shards 64 --merge
    spp augment --config recipes/augment/paper.yaml --placement end --dataset outputs/augment-paper \
        --output_dir outputs/augment-paper-end      # the spp_t0_end ablation's own end_* columns
"""

from __future__ import annotations

from spp.contract import ReflectionContract
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
]


def parse(argv: list[str] | None) -> AugmentConfigs:
    from spp.cli import parse_config

    return AugmentConfigs(*parse_config(CONFIG_TYPES, argv, prog="spp augment", description=__doc__))


def main(argv: list[str] | None = None) -> int:
    configs = parse(argv)
    job = AugmentJob(configs)
    if not configs.job.merge:
        result = job.run_shard()
        print(f"shard {configs.job.shard_index + 1}/{configs.job.num_shards} done:\n{format_summary(result)}")
        if configs.job.num_shards > 1:
            print(f"when every shard has finished: spp augment <same options> --merge (output: {job.output_dir})")
            return 0
        job.merge()
    else:
        print(f"merged:\n{format_summary(job.merge())}")
    print(f"dataset: {job.output_dir} (open with datasets.load_from_disk); summary: {job.output_dir / 'summary.json'}")
    return 0
