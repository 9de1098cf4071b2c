"""``spp eval``, ``spp compare``, ``spp judge-audit``, ``spp curves``: the safety suite, comparisons, judge audits and
emergence curves (runs: ``spp.eval.run``, ``spp.eval.curves``).

    spp eval --config recipes/eval/safety_suite.yaml --model path/to/instruct_model --output_dir results/spp_t0
    spp eval --config recipes/eval/safety_suite.yaml --model path/to/model --judge llm \\
        --judge_base_urls http://localhost:8000/v1 --judge_model judge --output_dir results/spp_t0_llm
    spp compare results/baseline results/spp_t0 --output_dir comparison
    spp judge-audit --labels tests/eval/data/judge_audit_labels.jsonl --judge keyword --group_by model benchmark
    spp judge-audit --config recipes/eval/judge_audit.yaml --labels my_labels.jsonl \\
        --judge_base_urls http://judge:8000/v1 --judge_model JUDGE
    spp curves outputs/demo/hub/models/spp-demo-spp_t0 --measures reflection_loss probes --output_dir curves

Exit codes of spp eval and spp judge-audit: 0 done; 2 bad input (a file, a setting, test cases of another model, no
judge server answering); 3 judging incomplete: a judge server failed mid-run, or more than max_unparsed_share of a
benchmark's judge answers could not be read (generations and judge answers received are cached: a rerun sends only
what is missing).
"""

from __future__ import annotations

from spp.stages import stage_main

__all__ = ["compare_main", "curves_main", "eval_main", "judge_audit_main"]

eval_main = stage_main("eval")
compare_main = stage_main("compare")
judge_audit_main = stage_main("judge-audit")
curves_main = stage_main("curves")
