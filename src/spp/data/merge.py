"""The merge (finalize) step of a chunked augmentation job, shared by spp's own job and the datatrove backend.

Promises:
- ``merge_job`` verifies every chunk (``JobState.verified_chunks``: row range, count, ids, input fingerprint), then
  concatenates them in corpus order into ``output_dir`` (``datasets.load_from_disk`` opens it) with ``spp.json``,
  ``summary.json`` and the dataset card. Counts are summed from the chunks' own statistics.
- A killed merge leaves nothing that the next one does not clean (``JobState.remove_merge_leftovers``), and the
  dataset files are replaced only once the new ones are complete.
- ``failure_report`` says when the share of selected documents that ``failed`` passes the threshold (exit 3).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spp.contract import record_contract
from spp.data.augment import AugmentStats
from spp.data.shards import SCHEMA, JobState, atomic_write_json
from spp.generate.prompt_length import FIX
from spp.generate.server_pool import PROMPT_TOO_LONG

if TYPE_CHECKING:
    from spp.data.job import AugmentConfigs


def merge_job(configs: AugmentConfigs, state: JobState, output_dir: Path) -> dict[str, Any]:
    """Assemble every chunk, in corpus order, into the final dataset with ``spp.json`` and ``summary.json``."""
    from spp.errors import SppConfigError

    state.remove_merge_leftovers()
    files = state.verified_chunks()
    stats = state.stats_of(range(len(files)))
    dataset = _save_dataset(files, output_dir, state.root, keep_harm=_was_scored(stats))
    duplicates = _duplicate_count(dataset)
    if duplicates and configs.job.duplicate_ids == "error" and _named_id_column(configs) is not None:
        raise SppConfigError(
            f"{duplicates} rows repeat an id seen earlier",
            field="id_column",
            fix="make ids unique or pass --duplicate_ids keep",
        )
    result = summary(stats, total_rows=len(dataset))
    result["duplicate_ids"] = duplicates
    meta = dataset_metadata(configs, result)
    write_final(
        output_dir, result, meta, lambda: _render_card(meta, dataset.features, output_dir), configs.job.hub_repo_id
    )
    return result


def write_final(output_dir: Path, result: dict[str, Any], meta, write_card, hub_repo_id: str | None) -> None:
    """The last steps of every chunked job's merge, in order: ``summary.json``, ``spp.json``, the card
    (``write_card()``), then the Hub upload when ``hub_repo_id`` is set."""
    atomic_write_json(output_dir / "summary.json", result)
    meta.save(output_dir)
    write_card()
    if hub_repo_id:
        from spp.hub.publish import publish_dataset

        publish_dataset(output_dir, repo_id=hub_repo_id, metadata=meta)


def failure_report(result: dict[str, Any], max_failed_share: float, servers: str = "") -> str | None:
    """``None`` when the failed share of selected documents is at most ``max_failed_share``, else the exit-3
    paragraph: how many failed, by error, from which servers, and what to do."""
    failed = int(result["counts"].get("failed", 0))
    selected = int(result["selected"])
    if not failed or failed <= max_failed_share * selected:
        return None
    lines = [
        f"{failed} of {selected} selected documents failed ({failed / selected:.1%}, more than the "
        f"max_failed_share of {max_failed_share:.0%}); the dataset was not merged",
        "failed by error: " + ", ".join(f"{k} {v}" for k, v in result["failed"].items()),
    ]
    if servers:
        lines.append(f"errors by server in this run: {servers}")
    too_long = int(result["failed"].get(PROMPT_TOO_LONG, 0))
    if too_long:
        lines.append(
            f"{too_long} failed as {PROMPT_TOO_LONG}: the server refuses their prompts as longer than its model takes, "
            f"so rerunning cannot help them: {FIX}"
        )
    if failed > too_long:
        lines.append(
            "rerun the same command when the servers answer again: only the failed rows are regenerated (or pass "
            "--max_failed_share 1 to merge them as failed)"
        )
    else:
        lines.append("or pass --max_failed_share 1 to merge them as failed")
    return "\n".join(lines)


def _named_id_column(configs: AugmentConfigs) -> str | None:
    """The id column the config names explicitly (``None``: ids may be text hashes, whose duplicates are identical)."""
    return configs.source.id_column if configs.source.id_column not in (None, "", "none") else None


def _was_scored(stats: AugmentStats) -> bool:
    return any(key != "missing" for key in stats.harm_histogram)


def _duplicate_count(dataset) -> int:
    import pyarrow.compute as pc

    ids = dataset.data.column("id")
    return len(ids) - len(pc.unique(ids))


def _save_dataset(files: list[Path], output_dir: Path, work: Path, keep_harm: bool):
    """Concatenate the chunk files and ``save_to_disk`` them into ``output_dir`` (replacing an earlier merge)."""
    import pyarrow.parquet as pq
    from datasets import Dataset, Features, load_from_disk

    schema = pq.read_schema(files[0]).remove_metadata() if files else SCHEMA
    features = Features.from_arrow_schema(schema)
    with tempfile.TemporaryDirectory(dir=work, prefix="merge-") as tmp:
        data = Dataset.from_parquet([str(f) for f in files], features=features, cache_dir=str(Path(tmp) / "cache"))
        if not keep_harm:
            data = data.remove_columns("harm_score")
        staged = Path(tmp) / "dataset"
        data.save_to_disk(str(staged))
        del data
        for old in [*output_dir.glob("data-*.arrow"), output_dir / "state.json", output_dir / "dataset_info.json"]:
            old.unlink(missing_ok=True)
        for new in staged.iterdir():
            shutil.move(str(new), output_dir / new.name)
    return load_from_disk(str(output_dir))


def dataset_metadata(configs: AugmentConfigs, result: dict[str, Any]):
    """``spp.json`` of the augmented corpus: persona, constitution, block format, prompt hash, provenance, counts."""
    from spp.metadata import SppMetadata
    from spp.persona.constitution import constitution_record

    renderer = configs.persona.renderer(configs.contract)
    constitution = renderer.constitution
    source, harm = configs.source.describe(), configs.harm
    details = {
        "source": source,
        "selection": configs.selection.describe(),
        "generator": {"backend": configs.generator.backend, "model": configs.generator.model},
        "harm": {
            "scorer": harm.harm_scorer,
            "model": harm.harm_model if harm.harm_scorer == "transformers" else harm.harm_scorer,
            "aggregation": harm.harm_aggregation,
            "threshold": configs.selection.harm_threshold,
        },
        "pause": {
            "distribution": configs.persona.pause_distribution,
            "min_fraction": configs.persona.pause_min_fraction,
        },
        "placement": configs.fit.placement,
        "reflection_tokens": result.get("reflection_tokens", {}),
        "trimmed": result.get("trimmed", {}),
        **{k: result[k] for k in ("rows", "selected", "counts", "rejected", "failed", "canaries", "harm_histogram")},
        "rows_at_or_above_threshold": result["harmful_rows"],
        "empty_documents": result["empty_documents"],
        "duplicate_ids": result.get("duplicate_ids", 0),
        "tokens_in": result["tokens_in"],
        "tokens_out": result["tokens_out"],
    }
    meta = SppMetadata(
        kind="dataset",
        persona=renderer.persona.to_dict(),
        constitution=constitution_record(constitution),
        block_format={"marker": renderer.block_format.marker, "end_marker": renderer.block_format.end_marker},
        prompt_hash=renderer.prompt_hash(),
        recipe_hash=configs.recipe_hash(),
        lineage={"source": {"repo_id": source["id"], "revision": source["revision"]}},
        details=details,
    )
    return record_contract(
        meta,
        configs.contract,
        tokenizer=configs.fit.training_tokenizer or None,
        over_budget=configs.fit.over_budget if configs.fit.training_tokenizer else None,
        enforced=bool(configs.fit.training_tokenizer),
        harm_threshold=configs.selection.harm_threshold,
    )


def _render_card(meta, features, output_dir: Path) -> None:
    """Write ``README.md``: ``spp.hub``'s dataset card."""
    from spp.hub.cards import render_dataset_card

    render_dataset_card(meta, features).save(output_dir / "README.md")


def summary(
    stats: AugmentStats,
    total_rows: int,
    run: AugmentStats | None = None,
    elapsed_s: float | None = None,
    busy_s: float | None = None,
) -> dict[str, Any]:
    """The summary printed at the end and written to ``summary.json``; ``run``, ``elapsed_s`` and ``busy_s`` (wall
    time with a generator or scorer call in flight) together add this run's speed and overhead."""
    out: dict[str, Any] = {
        "rows": total_rows,
        "rows_in_shard": stats.rows,
        "selected": stats.selected,
        "counts": dict(sorted(stats.status.items())),
        "rejected": dict(sorted(stats.rejected.items())),
        "failed": dict(sorted(stats.failed.items())),
        "empty_documents": stats.empty_documents,
        "canaries": dict(sorted(stats.canaries.items())),
        "harm_histogram": dict(
            sorted(
                stats.harm_histogram.items(),
                key=lambda kv: (kv[0] == "missing", float(kv[0]) if kv[0] != "missing" else 0.0),
            )
        ),
        "harmful_rows": stats.harmful_rows,
        "tokens_in": stats.tokens_in,
        "tokens_out": stats.tokens_out,
        "trimmed": dict(sorted(stats.trimmed.items())),
        "reflection_tokens": dict(sorted(stats.block_tokens.items(), key=lambda kv: int(kv[0]))),
    }
    if run is not None and elapsed_s is not None and busy_s is not None:
        # generator_/scorer_seconds add up every call's time (overlapping calls of pipelined chunks each count);
        # busy_seconds is the wall time with at least one call in flight, which the overhead share is taken from
        out["this_run"] = {
            "rows": run.rows,
            "seconds": round(elapsed_s, 3),
            "docs_per_s": round(run.rows / elapsed_s, 1) if elapsed_s > 0 else None,
            "generator_seconds": round(run.generator_seconds, 3),
            "scorer_seconds": round(run.scorer_seconds, 3),
            "busy_seconds": round(busy_s, 3),
            "overhead_share": round(1 - busy_s / elapsed_s, 4) if elapsed_s > 0 else None,
        }
    return out


def format_summary(result: dict[str, Any]) -> str:
    """A few readable lines of a summary."""
    lines = [
        f"rows: {result['rows']}  selected: {result['selected']}  empty documents: {result['empty_documents']}",
        "by status: " + ", ".join(f"{k} {v}" for k, v in result["counts"].items()),
    ]
    if result["rejected"]:
        lines.append("rejected by reason: " + ", ".join(f"{k} {v}" for k, v in result["rejected"].items()))
    if result["failed"]:
        lines.append("failed by error: " + ", ".join(f"{k} {v}" for k, v in result["failed"].items()))
    lines.append(
        f"canaries: {sum(result['canaries'].values())}  rows with harm score >= threshold: {result['harmful_rows']}"
    )
    lines.append(f"tokens in: {result['tokens_in']}  tokens out: {result['tokens_out']}")
    run = result.get("this_run")
    if run and run["rows"]:
        lines.append(
            f"this run: {run['rows']} docs in {run['seconds']} s ({run['docs_per_s']} docs/s); "
            f"time outside the generator and scorer: {run['overhead_share']:.1%}"
        )
    return "\n".join(lines)
