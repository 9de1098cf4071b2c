"""What a persona-binding job reports: its summary (``summary.json``, the printed lines) and its ``spp.json``.

Promises: the counts by status add up to the rows; ``spp.json`` names the constitution, persona, generator and its
sampling, the prompt set's hash and every source with how many prompts were drawn from it.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from spp.bind.prompts import BindPrompter
from spp.bind.provenance import SCHEMA_NAME, constitution_record
from spp.bind.sources import DrawnPrompts
from spp.data.augment import AugmentStats
from spp.data.identity import sha256_json

if TYPE_CHECKING:
    from spp.bind.job import BindConfigs


def _by_category(dataset) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter] = {}
    for category, status in zip(dataset["category"], dataset["status"], strict=True):
        counts.setdefault(category, Counter())[status] += 1
    return {c: dict(sorted(v.items())) for c, v in sorted(counts.items())}


def summary(stats: AugmentStats, total_rows: int) -> dict[str, Any]:
    """Counts by status (they add up to ``rows``), rejection reasons, failure errors, tokens."""
    return {
        "rows": total_rows,
        "rows_in_shard": stats.rows,
        "counts": dict(sorted(stats.status.items())),
        "rejected": dict(sorted(stats.rejected.items())),
        "failed": dict(sorted(stats.failed.items())),
        "tokens_in": stats.tokens_in,
        "tokens_out": stats.tokens_out,
    }


def format_summary(result: dict[str, Any]) -> str:
    lines = [f"rows: {result['rows']}", "by status: " + ", ".join(f"{k} {v}" for k, v in result["counts"].items())]
    for key, label in (("rejected", "rejected by reason"), ("failed", "failed by error")):
        if result[key]:
            lines.append(f"{label}: " + ", ".join(f"{k} {v}" for k, v in result[key].items()))
    if "by_category" in result:
        lines.append("by category: " + "; ".join(f"{c} {dict(v)}" for c, v in result["by_category"].items()))
    run = result.get("this_run")
    if run:
        lines.append(f"this run: {run['generated']} generated, {run['regenerated_failed']} failed rows retried")
    return "\n".join(lines)


def bind_metadata(configs: BindConfigs, prompter: BindPrompter, drawn: DrawnPrompts, result: dict[str, Any]):
    """``spp.json`` of a persona-binding dataset."""
    from spp.metadata import SppMetadata

    g = configs.generator
    sources = [{**s.describe(), "drawn": drawn.drawn.get(s.name_in_output, 0)} for s in configs.job.source_specs]
    details = {
        "schema": SCHEMA_NAME,
        "generator": {
            "backend": g.backend,
            "model": g.model,
            "sampling": {
                "temperature": g.temperature,
                "top_p": g.top_p,
                "top_k": g.top_k,
                "presence_penalty": g.presence_penalty,
                "max_new_tokens": g.max_new_tokens,
            },
        },
        "sources": sources,
        "prompt_set_sha256": sha256_json(drawn.ids),
        "num_prompts": len(drawn),
        "selfplay": {
            "user_model": configs.job.selfplay_user_model or g.model,
            "conversations": drawn.kinds.count("selfplay"),
            "turns": configs.job.selfplay_turns,
            "topics_sha256": sha256_json(configs.job.selfplay_topics),
            "seed_sources": [s.describe() for s in configs.job.selfplay_source_specs],
        },
        **{k: result[k] for k in ("rows", "counts", "rejected", "failed", "by_category", "left_out")},
        "tokens_in": result["tokens_in"],
        "tokens_out": result["tokens_out"],
        "system_turn": False,
    }
    return SppMetadata(
        kind="dataset",
        persona=prompter.persona.to_dict(),
        constitution=constitution_record(prompter.constitution),
        prompt_hash=prompter.prompt_hash(),
        recipe_hash=configs.recipe_hash(),
        lineage={"sources": [{"repo_id": s.path, "revision": s.revision} for s in configs.job.source_specs]},
        details=details,
    )
