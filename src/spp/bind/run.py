"""``spp bind-data``'s run: one shard of the persona-binding data job and, when it is the last to do, the merge."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spp.bind.generate import check_bind_backend
from spp.bind.job import BindConfigs, BindJob


@dataclass
class BindResult:
    """This shard's summary (``None`` on a merge-only run) and the merged summary (``None`` while other shards are
    still to come)."""

    output_dir: Path
    shard: dict[str, Any] | None = None
    merged: dict[str, Any] | None = None


def run_bind(configs: BindConfigs) -> BindResult:
    """Answer this shard's prompts (unless ``merge``) and merge when it is the only shard or ``merge`` is set."""
    check_bind_backend(configs.generator)  # before the job folder is claimed
    with BindJob(configs) as job:  # holds the job's lock until this run is done
        result = BindResult(Path(job.output_dir))
        if not configs.job.merge:
            result.shard = job.run_shard()
            if configs.job.num_shards > 1:
                return result
        result.merged = job.merge()
    return result


def bind_summary(result: BindResult) -> str:
    """What ``spp bind-data`` prints about a run: the merged counts, else this shard's."""
    from spp.bind.job import format_summary

    summary = result.merged or result.shard
    return format_summary(summary) if summary else ""
