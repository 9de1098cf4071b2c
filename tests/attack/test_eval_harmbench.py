"""``spp eval`` and attack test cases: harmbench needs them (and says how to get them before any model loads);
with them, the results record which attack wrote them, its hyperparameters and the file's hash."""

from __future__ import annotations

import hashlib
import json

from spp.cli import main as spp_main
from spp.eval.generation import TransformersBackend


def test_harmbench_without_test_cases_exits_2_before_loading_the_model(
    tiny_chat_model, behaviors_file, tmp_path, capsys, monkeypatch
):
    def no_model(self, *args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(TransformersBackend, "__init__", no_model)
    argv = ["eval", "--model", str(tiny_chat_model), "--benchmarks", "harmbench",
            "--benchmark_files", f"harmbench={behaviors_file}", "--output_dir", str(tmp_path / "out")]  # fmt: skip
    assert spp_main(argv) == 2
    err = capsys.readouterr().err
    assert "harmbench_direct" in err and "spp attack --method pez" in err and "harmbench.test_cases=" in err
    assert not (tmp_path / "out").exists()


def test_results_record_the_attack_its_hyperparameters_and_the_test_case_hash(
    tiny_chat_model, behaviors_file, tmp_path
):
    cases = tmp_path / "pez" / "test_cases.json"
    attack = ["attack", "--model", str(tiny_chat_model), "--behaviors", str(behaviors_file), "--output", str(cases),
              "--num_steps", "3", "--num_test_cases_per_behavior", "1", "--limit", "2"]  # fmt: skip
    assert spp_main(attack) == 0
    out = tmp_path / "results"
    files = [f"harmbench={behaviors_file}", f"harmbench.test_cases={cases}", f"harmbench_direct={behaviors_file}"]
    recipe = tmp_path / "eval.yaml"
    recipe.write_text("benchmark_options: {harmbench: {max_new_tokens: 5}}\n")  # the recipe's way to give 512
    argv = ["eval", "--config", str(recipe), "--model", str(tiny_chat_model),
            "--benchmarks", "harmbench", "harmbench_direct",
            "--benchmark_files", *files, "--max_new_tokens", "3",
            "--probes", "false",
            "--bootstrap_samples", "50", "--output_dir", str(out)]  # fmt: skip
    assert spp_main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    harmbench, direct = results["benchmarks"]["harmbench"], results["benchmarks"]["harmbench_direct"]
    assert harmbench["n"] == 2 and direct["n"] == 3  # test cases of the 2 attacked behaviours; all 3 direct
    assert harmbench["max_new_tokens"] == 5 and direct["max_new_tokens"] == 3
    (record,) = harmbench["test_cases"]
    assert record["attack"] == "pez" and record["path"] == str(cases)
    assert record["sha256"] == hashlib.sha256(cases.read_bytes()).hexdigest() and record["matches_attack_record"]
    assert record["hyperparameters"] == {"num_test_cases_per_behavior": 1, "num_steps": 3, "lr": 0.01,
                                         "num_optim_tokens": 20}  # fmt: skip
    assert "test_cases" not in direct
