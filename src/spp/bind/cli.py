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

from typing import TYPE_CHECKING

from spp.stages import get_stage, stage_main

if TYPE_CHECKING:
    from spp.bind.job import BindConfigs

main = stage_main("bind-data")


def parse(argv: list[str] | None) -> BindConfigs:
    """The configs ``argv`` gives, bundled as ``run_bind`` takes them."""
    from spp.bind.job import BindConfigs

    return BindConfigs(*get_stage("bind-data").parse(argv))
