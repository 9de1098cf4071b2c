"""``spp attack``: optimise HarmBench test cases against the model under test (PEZ, GCG).

    spp attack --method pez --model path/to/instruct_model --behaviors harmbench_behaviors_text_test.csv \\
        --targets harmbench_targets_text.json --functional_categories standard --output attacks/pez/test_cases.json
    spp attack --config recipes/attack/pez.yaml --model path/to/instruct_model --output attacks/pez/test_cases.json
    spp eval --config recipes/eval/safety_suite.yaml --model path/to/instruct_model \\
        --benchmark_files harmbench=harmbench_behaviors_text_test.csv harmbench.test_cases=attacks/pez/test_cases.json

A rerun with the same settings skips every finished behaviour (one file each under ``work_dir``).
"""

from __future__ import annotations

from spp.stages import stage_main

main = stage_main("attack")
