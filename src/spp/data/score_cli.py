"""``spp score-harm``: add a ``harm_score`` column to a dataset, and record the score histogram in ``spp.json``.

    spp score-harm --dataset corpus.jsonl --output_dir outputs/scored                       # offline scorer
    spp score-harm --config recipes/score/safelm.yaml --dataset HuggingFaceFW/fineweb-edu \\
        --dataset_config sample-10BT --streaming true --max_documents 100000 --output_dir outputs/scored

Sharded, one GPU per task (a Slurm array: ``recipes/slurm/score_harm.sbatch``): shard ``k`` of ``N`` scores the
``k``-th contiguous slice of the corpus into ``<output_dir>/.spp-shards/``; ``--merge`` concatenates the slices in
order once all are there (it names the missing ones and checks that they add up to the corpus length):

    spp score-harm --config recipes/score/safelm.yaml --num_shards 8 --shard_index $SLURM_ARRAY_TASK_ID ...
    spp score-harm --config recipes/score/safelm.yaml --num_shards 8 --merge true ...
    spp score-harm --config recipes/score/safelm.yaml --executor slurm --tasks 8 --gpus_per_task 1 \
        --slurm_partition gpu ...                                    # the same on datatrove (spp[datatrove])

The output is a ``save_to_disk`` folder that ``spp augment --dataset <it>`` reads (stratified selection and the
filtered arm use its ``harm_score``). Rows are unchanged and in the same order.
"""

from __future__ import annotations

import sys

from spp.cli import rerun_command
from spp.data.score_job import CONFIG_TYPES, ScoreConfigs, run_score, score_summary
from spp.recipes import parse_config


def main(argv: list[str] | None = None) -> int:
    configs = ScoreConfigs(*parse_config(CONFIG_TYPES, argv, prog="spp score-harm", description=__doc__))
    job = configs.job
    result = run_score(configs)
    if result.shard is not None:
        print(f"shard {job.shard_index + 1}/{job.num_shards}: scored {result.shard['rows']} rows in "
              f"{result.shard['scorer_seconds']:.1f} s of scoring")  # fmt: skip
    if result.failure:
        print(f"spp score-harm: {result.failure}\nrerun: {rerun_command('score-harm', argv)}", file=sys.stderr)
        return 3
    if result.details is None:
        if configs.executor.executor == "spp":
            print("when every shard has finished: spp score-harm <same options> --merge true "
                  f"(output: {result.output_dir})")  # fmt: skip
        return 0
    print(score_summary(result))
    print(f"dataset: {result.output_dir} (open with datasets.load_from_disk)")
    return 0
