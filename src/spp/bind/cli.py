"""``spp bind-data``: persona-binding SFT data, paired cited/uncited persona answers to harmful, benign and jailbreak
prompts, on the generator stack of ``spp augment``.

With no arguments it answers spp's own demo prompts with the offline backend into ``outputs/bind-demo/``:

    spp bind-data
    spp bind-data --config recipes/bind/demo.yaml
    spp bind-data --config recipes/bind/authors.yaml --base_urls http://node1:8000/v1 http://node2:8000/v1
    spp bind-data --config recipes/bind/authors.yaml --num_shards 16 --shard_index $SLURM_ARRAY_TASK_ID
    spp bind-data --config recipes/bind/authors.yaml --num_shards 16 --merge
    spp publish dataset outputs/bind-authors --repo_id ORG/spp-persona-binding

Rerun the same command after a crash or a server outage: finished chunks are kept and their ``failed`` rows retried.
"""

from __future__ import annotations

from spp.bind.job import BindConfigs, BindJobConfig, format_summary
from spp.bind.run import run_bind
from spp.bind.validate import BindValidationConfig
from spp.generate.base import GeneratorConfig
from spp.recipes import parse_config

CONFIG_TYPES = [BindJobConfig, GeneratorConfig, BindValidationConfig]


def parse(argv: list[str] | None) -> BindConfigs:
    return BindConfigs(*parse_config(CONFIG_TYPES, argv, prog="spp bind-data", description=__doc__))


def main(argv: list[str] | None = None) -> int:
    configs = parse(argv)
    result = run_bind(configs)
    job = configs.job
    if result.shard is not None:
        print(f"shard {job.shard_index + 1}/{job.num_shards} done:\n{format_summary(result.shard)}")
    if result.merged is None:
        print(f"when every shard has finished: spp bind-data <same options> --merge (output: {result.output_dir})")
        return 0
    if job.merge:
        print(f"merged:\n{format_summary(result.merged)}")
    print(f"dataset: {result.output_dir} (spp sft reads it as a dataset path; spp publish dataset uploads it)")
    return 0
