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

import sys

from spp.data.import_job import CONFIG_TYPES, ImportConfigs, format_import_summary, run_import
from spp.recipes import parse_config


def parse(argv: list[str] | None) -> ImportConfigs:
    return ImportConfigs(*parse_config(CONFIG_TYPES, argv, prog="spp import-reflections", description=__doc__))


def main(argv: list[str] | None = None) -> int:
    configs = parse(argv)
    result = run_import(configs)
    job = configs.job
    if result.shard is not None and (job.num_shards > 1 or result.merged is None):
        print(f"shard {job.shard_index + 1}/{job.num_shards} done:\n{format_import_summary(result.shard)}")
    if result.failure:
        print(f"spp import-reflections: {result.failure}", file=sys.stderr)
        return 3
    if configs.executor.executor != "spp":
        return 0
    if result.merged is None:
        print(f"when every shard has finished: spp import-reflections <same options> --merge true "
              f"(output: {result.output_dir})")  # fmt: skip
        return 0
    print(f"merged:\n{format_import_summary(result.merged)}")
    out = result.output_dir
    print(f"dataset: {out} (spp pretrain --dataset_path {out}); summary: {out / 'summary.json'}")
    return 0
