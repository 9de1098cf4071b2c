"""``spp compare`` and per-model test cases: PEZ test cases are optimised against each model, so their file hashes
differ by design; the attack that made them (method, hyperparameters) must match instead."""

from __future__ import annotations

import json

from spp.cli import main as spp_main


def _result(tmp_path, name: str, cases_sha: str, steps: int) -> str:
    harmbench = {
        "metric": "asr", "value": 0.1, "ci": [0, 0.2], "n": 10, "judge": "classifier:cls",
        "sources": {"behaviors": [{"path": "b.csv", "sha256": "b" * 64, "rows": 10}],
                    "test_cases": [{"path": f"{name}/test_cases.json", "sha256": cases_sha, "rows": 10}]},
        "test_cases": [{"attack": "pez", "hyperparameters": {"num_steps": steps, "lr": 0.01}, "sha256": cases_sha}],
    }  # fmt: skip
    result = {
        "model": name, "judge": "classifier:cls", "sft_hash": "1" * 64, "benchmarks": {"harmbench": harmbench},
        "headline": {"benchmarks": ["harmbench"], "mean": 0.1, "mean_ci": [0, 0.2], "max": 0.1,
                     "max_benchmark": "harmbench", "max_ci": [0, 0.2]},
    }  # fmt: skip
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(result))
    return str(path)


def test_per_model_test_cases_compare_when_the_attack_is_the_same_and_not_when_it_differs(tmp_path, capsys):
    same = [_result(tmp_path, "baseline", "1" * 64, 100), _result(tmp_path, "spp_t0", "2" * 64, 100)]
    assert spp_main(["compare", *same, "--output_dir", str(tmp_path / "ok")]) == 0
    other = [_result(tmp_path, "baseline", "1" * 64, 100), _result(tmp_path, "spp_t0", "2" * 64, 10)]
    capsys.readouterr()
    assert spp_main(["compare", *other, "--output_dir", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err
    assert "harmbench: attack differs" in err and '"num_steps": 10' in err and "Traceback" not in err
