"""Entry points of ``spp eval``, ``spp compare``, ``spp judge-audit`` and ``spp curves`` (runs: ``spp.eval.run``).

    spp eval --config recipes/eval/safety_suite.yaml --model path/to/instruct_model --output_dir results/spp_t0
    spp eval --config recipes/eval/safety_suite.yaml --model path/to/model --judge llm \\
        --judge_base_urls http://localhost:8000/v1 --judge_model judge --output_dir results/spp_t0_llm
    spp compare results/baseline results/spp_t0 --output_dir comparison
    spp judge-audit --labels tests/eval/data/judge_audit_labels.jsonl --judge keyword --group_by model benchmark
    spp judge-audit --config recipes/eval/judge_audit.yaml --labels my_labels.jsonl \
        --judge_base_urls http://judge:8000/v1 --judge_model JUDGE
    spp curves outputs/demo/hub/models/spp-demo-spp_t0 --measures reflection_loss probes --output_dir curves

Exit codes of spp eval and spp judge-audit: 0 done; 2 bad input (a file, a setting, test cases of another model, no
judge server answering); 3 judging incomplete: a judge server failed mid-run, or more than max_unparsed_share of a
benchmark's judge answers could not be read (generations and judge answers received are cached: a rerun sends only
what is missing).
"""

from __future__ import annotations

import sys

from spp.eval.config import CompareConfig, EvalConfig, JudgeAuditConfig
from spp.recipes import parse_config


def eval_main(argv: list[str]) -> int:
    """Run the safety suite; write results.json, results.md and verdicts.jsonl into ``output_dir``."""
    (config,) = parse_config([EvalConfig], argv, prog="spp eval", description="Run the spp safety suite on a model.")
    from spp.eval.judges import JudgingIncomplete
    from spp.eval.run import eval_summary, run_eval

    try:
        result = run_eval(config)
    except JudgingIncomplete as err:
        print(f"spp eval: judging incomplete: {err}", file=sys.stderr)
        return 3
    print(eval_summary(result))
    print(f"wrote {result.json_path} and {result.markdown_path}")
    return 0


def compare_main(argv: list[str]) -> int:
    """``spp compare RESULTS... [--output_dir DIR] [--force true]``: table + PNG."""
    argv, positional = list(argv), []
    while argv and not argv[0].startswith("-"):
        positional.append(argv.pop(0))
    if positional:
        argv = ["--results", *positional, *argv]
    (config,) = parse_config([CompareConfig], argv, prog="spp compare", description="Compare spp eval results.")
    from spp.eval.run import run_compare

    files = run_compare(config)
    print("wrote " + ", ".join(str(p) for p in files.values()))
    return 0


def judge_audit_main(argv: list[str]) -> int:
    """Score a judge against labelled responses; print accuracy, precision, recall, F1 and kappa (per group)."""
    (config,) = parse_config(
        [JudgeAuditConfig], argv, prog="spp judge-audit", description="Measure a judge against labelled responses."
    )
    from spp.eval.audit import audit_markdown
    from spp.eval.judges import JudgingIncomplete
    from spp.eval.run import run_judge_audit

    try:
        report = run_judge_audit(config)
    except JudgingIncomplete as err:
        print(f"spp judge-audit: judging incomplete: {err}", file=sys.stderr)
        return 3
    print(audit_markdown(report), end="")
    if config.output:
        print(f"wrote {config.output}")
    return 0


def curves_main(argv: list[str]) -> int:
    """``spp curves MODEL_OR_EXPORT [...] [--measures ...]``: positional arguments are the models."""
    from spp.eval import curves

    argv = list(argv)
    models = []
    while argv and not argv[0].startswith("-"):
        models.append(argv.pop(0))
    (config,) = parse_config([curves.CurvesConfig], argv, prog="spp curves", description=curves.__doc__.split("\n")[0])
    config.models = models + list(config.models)
    result = curves.write_curves(config)
    print(result["files"]["markdown"].read_text(encoding="utf-8"))
    print(f"{result['evaluated']} evaluated, {result['cached']} cached; wrote {result['files']['png']}")
    return 0
