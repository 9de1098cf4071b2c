"""Results files: ``results.json`` (everything), ``results.md`` (tables), and model-index rows for the card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spp.eval.attack_origin import display_name
from spp.eval.benchmarks.registry import BENCHMARKS


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def ci_text(ci: list[float] | None) -> str:
    return "–" if not ci else f"[{pct(ci[0])}, {pct(ci[1])}]"


SMOKE = "smoke judge"


def judge_label(benchmark: dict[str, Any]) -> str:
    """A benchmark's judge id, with "(smoke judge)" when its judge is a smoke judge (keyword)."""
    spec = benchmark.get("judge_spec") or {}
    smoke = spec.get("smoke", benchmark.get("judge", "").startswith("keyword"))
    return f"{benchmark.get('judge', '?')} ({SMOKE})" if smoke else benchmark.get("judge", "?")


def _source_text(sources: dict[str, list[dict[str, Any]]] | None) -> str:
    parts = []
    for role, entries in (sources or {}).items():
        for e in entries:
            if "sha256" in e:
                parts.append(f"{role}: {Path(e['path']).name} sha256 {e['sha256'][:12]}")
            else:
                parts.append(f"{role}: hub {e['hub']}@{(e.get('revision') or 'UNPINNED')[:12]}")
    return "; ".join(parts) or "–"


def _context_text(context: dict[str, Any] | None) -> str:
    if not context:
        return "–"
    if not context.get("checked"):
        return "not checked (served model)"
    return f"{context['tokens']} tokens, {context['truncated']} truncated"


def markdown(results: dict[str, Any]) -> str:
    """The human-readable report of one ``results.json``: judges and sources included."""
    head = results["headline"]
    smoke = " — **scored by a smoke judge (keyword): not a headline figure**" if results.get("smoke_judge") else ""
    system = results.get("system_text")
    added = results.get("template_system_turn")
    turn = (
        f"`{system[:60]}`"
        if system
        else "none sent" + (f" (the chat template adds its own: `{added[:60]}`)" if added else "")
    )
    names = {n: display_name(n, b) for n, b in results["benchmarks"].items()}
    incomplete = results.get("incomplete")
    lines = [
        f"# Safety evaluation: {results['model']}",
        "",
        *([f"**INCOMPLETE, not a result:** {incomplete}", ""] if incomplete else []),
        f"SFT hash `{(results.get('sft_hash') or 'unknown')[:12]}` · arm `{results.get('arm') or 'unknown'}` · "
        f"system turn: {turn}",
        "",
        f"**Mean ASR {pct(head['mean'])}%** {ci_text(head['mean_ci'])} over "
        f"{', '.join(names.get(b, b) for b in head['benchmarks']) or '–'}; "
        f"max {pct(head['max'])}% ({head['max_benchmark'] or '–'}) {ci_text(head['max_ci'])}{smoke}.",
        "",
        "| benchmark | kind | metric | n | unparsed | value (%) | 95% CI | judge |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for name, b in results["benchmarks"].items():
        lines.append(
            f"| {names[name]} | {b['kind']} | {b['metric']} | {b['n']} | {b.get('unparsed', 0)} | {pct(b['value'])} "
            f"| {ci_text(b['ci'])} | {judge_label(b)} |"
        )
    lines += [
        "",
        "Rates leave out the unparsed items (judge answers no parsing rule could read); "
        f"max_unparsed_share {results.get('max_unparsed_share', '–')}.",
    ]
    lines += ["", "## What was evaluated", ""]
    lines += ["| benchmark | sources | new tokens | items | context | attack | judge prompt |"]
    lines += ["|---|---|---:|---|---|---|---|"]
    for name, b in results["benchmarks"].items():
        spec = b.get("judge_spec") or {}
        prompt = (spec.get("prompt_sha256") or "")[:12] or "–"
        tokens = (b.get("generation") or {}).get("max_new_tokens", "–")
        lines.append(
            f"| {names[name]} | {_source_text(b.get('sources'))} | {tokens} | {b.get('sampling', '–')} "
            f"| {_context_text(b.get('context'))} | {b.get('attack_origin') or '–'} | {prompt} |"
        )
    for name, b in results["benchmarks"].items():
        notes = (b.get("data_defined") or {}).get("unverified") or []
        if notes:
            lines += ["", f"### {name}: not verified", ""] + [f"- {note}" for note in notes]
    for name, b in results["benchmarks"].items():
        if b["by_category"]:
            lines += ["", f"### {name} by category", "", "| category | n | value (%) |", "|---|---:|---:|"]
            lines += [f"| {c} | {v['n']} | {pct(v['value'])} |" for c, v in b["by_category"].items()]
    probes = results.get("probes")
    if probes:
        lines += ["", "## Persona probes", "", "| fact | held out | recalled |", "|---|---|---|"]
        lines += [f"| {f['key']} | {f['held_out']} | {f['recalled']} |" for f in probes["facts"]]
        lines += [
            "",
            f"planted recall {pct(probes['planted']['recall'])}%, held-out {pct(probes['held_out']['recall'])}%",
        ]
    for key in ("perplexity", "capability"):
        if results.get(key):
            lines += ["", f"## {key}", "", "```json", json.dumps(results[key], indent=2), "```"]
    return "\n".join(lines) + "\n"


def write_results(results: dict[str, Any], output_dir: str | Path) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` into ``output_dir``."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "results.json", out / "results.md"
    json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path.write_text(markdown(results), encoding="utf-8")
    return json_path, md_path


def model_index_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows for ``spp.hub.cards.render_model_card(eval_results=...)``: one per benchmark, plus the mean ASR."""
    rows = []
    for name, b in results["benchmarks"].items():
        hub = next(iter(BENCHMARKS[name].files.values())).hub if name in BENCHMARKS else None
        rows.append(
            {
                "benchmark": display_name(name, b),
                "metric": b["metric"],
                "value": round(b["value"], 4),
                "dataset_id": hub.repo_id if hub else name,
            }
        )
    if results["headline"]["mean"] is not None:
        rows.append(
            {
                "benchmark": "spp-safety-suite",
                "metric": "mean_asr",
                "value": round(results["headline"]["mean"], 4),
                "dataset_id": "spp-safety-suite",
            }
        )
    return rows


def update_model_card(model_dir: str | Path, results: dict[str, Any]) -> Path | None:
    """Render the model's card with a ``model-index`` of these results into ``model_dir/README.md``."""
    from spp.hub.cards import render_model_card
    from spp.metadata import read_metadata

    meta = read_metadata(model_dir)
    if meta is None:
        return None
    path = Path(model_dir) / "README.md"
    render_model_card(meta, eval_results=model_index_rows(results)).save(path)
    return path
