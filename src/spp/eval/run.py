"""The runs of ``spp eval``, ``spp compare`` and ``spp judge-audit``, each taking its parsed config.

- ``run_eval``: the safety suite on one model; writes ``results.json``, ``results.md`` and ``verdicts.jsonl`` into
  ``output_dir`` and (``update_card``) the model card's ``model-index``. Results past ``max_unparsed_share`` are
  written marked ``incomplete`` (compare refuses them) and raise ``JudgingIncomplete`` (the CLI exits 3).
- ``run_compare``: the comparison table and plot of several eval results.
- ``run_judge_audit``: a judge measured against labelled responses (accuracy, precision, recall, F1, kappa), per
  group with the recall gap between groups.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.eval.config import EVAL_RUNTIME_FIELDS, CompareConfig, EvalConfig, JudgeAuditConfig
from spp.ownership import claim_output
from spp.recipes import RUNTIME_FIELDS, recipe_hash

logger = logging.getLogger("spp.eval")


@dataclass
class EvalResult:
    """The suite's results (as in ``results.json``), the files written, and the model card updated (or ``None``)."""

    results: dict[str, Any]
    json_path: Path
    markdown_path: Path
    card: Path | None = None


def run_eval(config: EvalConfig) -> EvalResult:
    """Run the safety suite on ``config.model`` (or a served model) and write its results (module docstring)."""
    if not config.model and not config.served_model:
        raise SppConfigError("no model given", field="model", fix="pass --model PATH_OR_ID")
    from spp.eval.report import update_model_card, write_results
    from spp.eval.suite import run_suite

    inputs = [
        config.model,
        config.data_dir,
        config.perplexity_file,
        *(f.split("=", 1)[-1] for f in config.benchmark_files),
    ]
    digest = recipe_hash(config, exclude=RUNTIME_FIELDS | EVAL_RUNTIME_FIELDS)
    with claim_output("eval", config.output_dir, recipe_hash=digest, inputs=inputs, overwrite=config.overwrite):
        results = run_suite(config)
        json_path, md_path = write_results(results, config.output_dir)
    if results.get("incomplete"):
        from spp.eval.judges import JudgingIncomplete

        raise JudgingIncomplete(f"{results['incomplete']} (results marked incomplete: {json_path})")
    card = update_model_card(config.model, results) if config.update_card else None
    if card is not None:
        logger.info("model card updated: %s", card)
    return EvalResult(results, json_path, md_path, card)


def eval_summary(result: EvalResult) -> str:
    """The headline (mean ASR over the attack benchmarks run) and the files written."""
    mean = result.results["headline"]["mean"]
    headline = f"mean ASR {100 * mean:.1f}%" if mean is not None else "no attack benchmark run"
    return f"{headline}\nwrote {result.json_path} and {result.markdown_path}"


def run_compare(config: CompareConfig) -> dict[str, Path]:
    """Write ``comparison.json``, ``comparison.md`` and ``comparison.png`` of ``config.results``; returns the files."""
    from spp.eval.compare import compare

    reported = config.reported
    digest = recipe_hash(
        {"results": sorted(str(Path(r).resolve()) for r in config.results), "force": config.force, "reported": reported}
    )
    with claim_output(
        "compare", config.output_dir, recipe_hash=digest, inputs=config.results, overwrite=config.overwrite
    ):
        return compare(config.results, config.output_dir, force=config.force, title=config.title, reported=reported)


def compare_summary(files: dict[str, Path]) -> str:
    """The files ``run_compare`` wrote."""
    return "wrote " + ", ".join(str(p) for p in files.values())


def judge_audit_summary(report: dict[str, Any]) -> str:
    """The audit as a markdown table (``spp.eval.audit.audit_markdown``), and the JSON file when one was written."""
    from spp.eval.audit import audit_markdown

    written = f"\nwrote {report['output']}" if report.get("output") else ""
    return audit_markdown(report).rstrip("\n") + written


def run_judge_audit(config: JudgeAuditConfig) -> dict[str, Any]:
    """Score ``config.judge`` against the labelled responses of ``config.labels``; returns the report (per group),
    also written to ``config.output`` as JSON when it is set."""
    if not config.labels:
        raise SppConfigError("no labels file given", field="labels", fix="pass --labels FILE.jsonl")
    from spp.eval.audit import audit, label_mapping, read_labels
    from spp.eval.judges import build_judge

    mapping = label_mapping(
        config.layout,
        config.columns,
        config.positive_labels,
        config.negative_labels,
        config.skip_labels,
        config.score_threshold,
    )
    rows = read_labels(config.labels, mapping)

    def run() -> dict[str, Any]:
        from spp.eval.suite import probe_judge_servers

        judge = build_judge(config.judge, config)
        probe_judge_servers({"audit": judge})  # no server answering: exit 2 now, naming the URLs
        return {**audit(judge, rows, config.group_by), "layout": config.layout, "skipped": rows.skipped}

    if not config.output:
        return run()
    output = Path(config.output)
    digest = recipe_hash(config, exclude=RUNTIME_FIELDS | {"output", "batch_size", "max_concurrency", "max_tries"})
    with claim_output(
        "judge-audit",
        output.parent,
        files=[output.name],
        recipe_hash=digest,
        inputs=[config.labels],
        overwrite=config.overwrite,
        field="output",
    ):  # before a classifier judge is loaded
        report = run()
        output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return {**report, "output": str(output)}
