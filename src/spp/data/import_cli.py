"""``spp import-reflections``: join released reflections (a sidecar) to their text corpus and write spp's corpus.

Reuse the SPP authors' reflections instead of regenerating them: the sidecar's columns are mapped onto spp's corpus
contract (``--mapping dlab-spp``, the authors' schema, by default; ``--mapping_overrides FIELD=COLUMN``), every
reflection is re-checked against your training tokenizer and reflection budget, and the result is an ordinary spp
corpus for every arm (``spp pretrain --dataset_path OUTPUT``).

    spp inspect dlab-spp/reflection-10m                       # its columns, and what the default mapping fills
    spp import-reflections --config recipes/import/reflection-10m.yaml
    spp import-reflections --dataset corpus/ --sidecar sidecar.parquet \\
        --training_tokenizer HuggingFaceTB/SmolLM2-1.7B --marker "<assistant>" --end_marker "" --output_dir data/imported
    spp import-reflections --config recipes/import/reflection-10m.yaml --num_shards 64 \\
        --shard_index $SLURM_ARRAY_TASK_ID                     # then the same with --merge true
    spp import-reflections --config recipes/import/reflection-10m.yaml --executor slurm --tasks 64 \\
        --slurm_partition cpu                                  # the same on datatrove

Exit codes: 0 done; 2 bad input (a mapping naming a column the sidecar lacks, a join below min_join_share, a changed
corpus, a locked or foreign output folder); 3 a datatrove task failed. Rerun the same command after a crash: finished
chunks are kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spp.stages import get_stage, stage_main

if TYPE_CHECKING:
    from spp.data.import_job import ImportConfigs

main = stage_main("import-reflections")


def parse(argv: list[str] | None) -> ImportConfigs:
    """The configs ``argv`` gives, bundled as ``run_import`` takes them."""
    from spp.data.import_job import ImportConfigs

    return ImportConfigs(*get_stage("import-reflections").parse(argv))
