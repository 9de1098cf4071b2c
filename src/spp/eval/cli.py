"""Entry points of ``spp eval`` and ``spp compare``.

    spp eval --config recipes/eval/safety_suite.yaml --model path/to/instruct_model --output_dir results/spp_t0
    spp eval --config recipes/eval/safety_suite.yaml --model path/to/model --judge llm \\
        --judge_base_urls http://localhost:8000/v1 --judge_model judge --output_dir results/spp_t0_llm
    spp compare results/baseline results/spp_t0 --output_dir comparison
    spp judge-audit --labels tests/eval/data/judge_audit_labels.jsonl --judge keyword --group_by model benchmark
    spp judge-audit --config recipes/eval/judge_audit.yaml --labels my_labels.jsonl \
        --judge_base_urls http://judge:8000/v1 --judge_model JUDGE
"""

from __future__ import annotations

import logging

from spp.cli import parse_config
from spp.errors import SppConfigError
from spp.eval.config import CompareConfig, EvalConfig, JudgeAuditConfig

logger = logging.getLogger(__name__)


def eval_main(argv: list[str]) -> int:
    """Run the safety suite; write results.json, results.md and verdicts.jsonl into ``output_dir``."""
    (config,) = parse_config([EvalConfig], argv, prog="spp eval", description="Run the spp safety suite on a model.")
    if not config.model and not config.served_model:
        raise SppConfigError("no model given", field="model", fix="pass --model PATH_OR_ID")
    from spp.eval.report import update_model_card, write_results
    from spp.eval.suite import run_suite

    results = run_suite(config)
    json_path, md_path = write_results(results, config.output_dir)
    if config.update_card and (card := update_model_card(config.model, results)) is not None:
        logger.info("model card updated: %s", card)
    mean = results["headline"]["mean"]
    print(f"mean ASR {100 * mean:.1f}%" if mean is not None else "no attack benchmark run")
    print(f"wrote {json_path} and {md_path}")
    return 0


def compare_main(argv: list[str]) -> int:
    """``spp compare RESULTS... [--output_dir DIR] [--force true]``: table + PNG."""
    argv, positional = list(argv), []
    while argv and not argv[0].startswith("-"):
        positional.append(argv.pop(0))
    if positional:
        argv = ["--results", *positional, *argv]
    (config,) = parse_config([CompareConfig], argv, prog="spp compare", description="Compare spp eval results.")
    from spp.eval.compare import compare

    files = compare(config.results, config.output_dir, force=config.force, title=config.title)
    print("wrote " + ", ".join(str(p) for p in files.values()))
    return 0


def judge_audit_main(argv: list[str]) -> int:
    """Score a judge against labelled responses; print accuracy, precision, recall, F1 and kappa (per group)."""
    (config,) = parse_config(
        [JudgeAuditConfig], argv, prog="spp judge-audit", description="Measure a judge against labelled responses."
    )
    if not config.labels:
        raise SppConfigError("no labels file given", field="labels", fix="pass --labels FILE.jsonl")
    import json
    from pathlib import Path

    from spp.eval.audit import audit, audit_markdown, read_labels
    from spp.eval.judges import build_judge

    rows = read_labels(config.labels)
    judge = build_judge(config.judge, config)
    report = audit(judge, rows, config.group_by)
    print(audit_markdown(report), end="")
    if config.output:
        Path(config.output).parent.mkdir(parents=True, exist_ok=True)
        Path(config.output).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {config.output}")
    return 0
