"""``spp bind-data``'s run: one shard of the persona-binding data job and, when it is the last to do, the merge."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spp.bind.generate import check_bind_backend
from spp.bind.job import BindConfigs, BindJob
from spp.data.jobdir import JobResult, job_summary


@dataclass
class BindResult(JobResult):
    """What a bind-data run did (``spp.data.jobdir.JobResult``)."""


def run_bind(configs: BindConfigs) -> BindResult:
    """Answer this shard's prompts (unless ``merge``) and merge when it is the only shard or ``merge`` is set."""
    check_bind_backend(configs.generator)  # before the job folder is claimed
    with BindJob(configs) as job:  # holds the job's lock until this run is done
        shard = {"shard_index": configs.job.shard_index, "num_shards": configs.job.num_shards}
        result = BindResult(Path(job.output_dir), **shard)
        if not configs.job.merge:
            result.shard = job.run_shard()
            if configs.job.num_shards > 1:
                return result
        result.merged = job.merge()
    return result


def bind_summary(result: BindResult) -> str:
    """What ``spp bind-data`` prints: this shard's counts, the merged dataset's and where it is."""
    from spp.bind.job import format_summary

    where = f"dataset: {result.output_dir} (spp sft reads it as a dataset path; spp publish dataset uploads it)"
    return job_summary(result, "bind-data", format_summary, where)
