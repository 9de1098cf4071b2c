"""``spp score-harm``: add a ``harm_score`` column to a dataset, and record the score histogram in ``spp.json``.

    spp score-harm --dataset corpus.jsonl --output_dir outputs/scored                       # offline scorer
    spp score-harm --config recipes/score/safelm.yaml --dataset HuggingFaceFW/fineweb-edu \\
        --dataset_config sample-10BT --streaming true --max_documents 100000 --output_dir outputs/scored

Sharded, one GPU per task (a Slurm array: ``recipes/slurm/score_harm.sbatch``): shard ``k`` of ``N`` scores the
``k``-th contiguous slice of the corpus into ``<output_dir>/.spp-shards/``; ``--merge`` concatenates the slices in
order once all are there (it names the missing ones and checks that they add up to the corpus length):

    spp score-harm --config recipes/score/safelm.yaml --num_shards 8 --shard_index $SLURM_ARRAY_TASK_ID ...
    spp score-harm --config recipes/score/safelm.yaml --num_shards 8 --merge true ...
    spp score-harm --config recipes/score/safelm.yaml --executor slurm --tasks 8 --gpus_per_task 1 \\
        --slurm_partition gpu ...                                    # the same on datatrove (spp[datatrove])

The output is a ``save_to_disk`` folder that ``spp augment --dataset <it>`` reads (stratified selection and the
filtered arm use its ``harm_score``). Rows are unchanged and in the same order.
"""

from __future__ import annotations

from spp.stages import stage_main

main = stage_main("score-harm")
