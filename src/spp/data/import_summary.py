"""What ``spp import-reflections`` reports: ``summary.json`` (every corpus and sidecar row accounted for), the lines
it prints, and the result of a run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spp.data.import_rows import ImportStats
from spp.data.jobdir import JobResult, job_summary

SIDECAR_KINDS = ("no_text", "duplicate_id", "missing_id")


def import_summary(stats: ImportStats, total_rows: int, sidecar: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``summary.json`` holds: the corpus rows by status, each broken kind, and (merged) the sidecar's rows."""
    broken = dict(sorted(stats.broken.items()))
    if sidecar is not None:
        broken |= {kind: sidecar[kind] for kind in SIDECAR_KINDS if sidecar[kind]}
    out: dict[str, Any] = {
        "rows": total_rows,
        "rows_in_shard": stats.rows,
        "matched_rows": stats.matched,
        "counts": dict(sorted(stats.status.items())),
        "broken": dict(sorted(broken.items())),
        "rejected": dict(sorted(stats.rejected.items())),
        "unknown_citation_ids": dict(sorted(stats.unknown_citation_ids.items())),
        "canaries": dict(sorted(stats.canaries.items())),
        "trimmed": dict(sorted(stats.trimmed.items())),
        "reflection_tokens": dict(sorted(stats.block_tokens.items(), key=lambda kv: int(kv[0]))),
        "harm_histogram": dict(sorted(stats.harm_histogram.items())),
        "harmful_rows": stats.harmful_rows,
        "empty_documents": stats.empty_documents,
    }
    if stats.end_status:
        out["end_counts"] = dict(sorted(stats.end_status.items()))
    if sidecar is not None:
        out["sidecar"] = sidecar
    return out


def format_import_summary(result: dict[str, Any]) -> str:
    """A few readable lines of an import summary."""
    lines = [
        f"corpus rows: {result['rows']}  joined to a reflection: {result['matched_rows']}",
        "by status: " + ", ".join(f"{k} {v}" for k, v in result["counts"].items()),
    ]
    if result.get("end_counts"):
        lines.append("end placement: " + ", ".join(f"{k} {v}" for k, v in result["end_counts"].items()))
    if sidecar := result.get("sidecar"):
        lines.append(
            f"sidecar rows: {sidecar['rows']}  joined: {sidecar['joined']}  no text in the corpus: "
            f"{sidecar['no_text']}  duplicate ids: {sidecar['duplicate_id']}  no id: {sidecar['missing_id']}  "
            f"(join share {sidecar['join_share']:.2%})"
        )
    if result["broken"]:
        lines.append("broken, by kind: " + ", ".join(f"{k} {v}" for k, v in result["broken"].items()))
    if result["rejected"]:
        lines.append("rejected, by reason: " + ", ".join(f"{k} {v}" for k, v in result["rejected"].items()))
    return "\n".join(lines)


@dataclass
class ImportResult(JobResult):
    """What an import run did (``spp.data.jobdir.JobResult``); ``failure``: why a datatrove run failed."""


def import_result_summary(result: ImportResult) -> str:
    """What ``spp import-reflections`` prints: this shard's counts, the merged corpus's and where it is."""
    out = result.output_dir
    where = f"dataset: {out} (spp pretrain --dataset_path {out}); summary: {out / 'summary.json'}"
    return job_summary(result, "import-reflections", format_import_summary, where)
