"""spp eval then spp compare on a tiny instruct model and small local files; re-judging regenerates nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from spp.cli import main as spp_main
from spp.eval.generation import TransformersBackend
from spp.metadata import SppMetadata
from spp.persona import load_persona

RECIPE = Path(__file__).parents[2] / "recipes" / "eval" / "safety_suite.yaml"


@pytest.fixture(scope="module")
def instruct_model(tiny_chat_model, tmp_path_factory) -> Path:
    model = tmp_path_factory.mktemp("eval-model") / "model"
    shutil.copytree(tiny_chat_model, model)
    SppMetadata(kind="instruct_model", persona=load_persona().to_dict(), sft_hash="a" * 64, arm="spp_t0").save(model)
    return model


def eval_argv(model: Path, files: list[str], out: Path, *extra: str) -> list[str]:
    return [
        "eval",
        "--config",
        str(RECIPE),
        "--model",
        str(model),
        "--benchmark_files",
        *files,
        "--output_dir",
        str(out),
        "--cache_dir",
        str(out.parent / "cache"),
        "--max_new_tokens",
        "6",
        "--bootstrap_samples",
        "200",
        *extra,
    ]


def test_eval_rejudge_and_compare(instruct_model, bench_files, expected_n, judge_server, tmp_path, port, monkeypatch):
    files, EXPECTED_N = bench_files, expected_n
    assert spp_main(eval_argv(instruct_model, files, tmp_path / "kw")) == 0

    results = json.loads((tmp_path / "kw" / "results.json").read_text())
    assert {b: r["n"] for b, r in results["benchmarks"].items()} == EXPECTED_N
    assert results["judge"] == "keyword" and results["sft_hash"] == "a" * 64
    assert results["headline"]["benchmarks"] == ["advbench", "dan", "pap", "jbb_artifacts", "harmbench"]
    assert results["benchmarks"]["xstest"]["metric"] == "refusal_rate"
    assert results["probes"]["planted"]["n"] == 3 and results["probes"]["held_out"]["n"] == 1
    assert "| advbench | attack | asr | 3 |" in (tmp_path / "kw" / "results.md").read_text()
    cached = (tmp_path / "cache" / "generations.jsonl").read_text().splitlines()
    assert len(cached) == sum(EXPECTED_N.values()) + 4  # + the 4 persona probes

    def no_generation(self, requests):
        raise AssertionError(f"generation was called for {len(requests)} prompts")

    monkeypatch.setattr(TransformersBackend, "generate", no_generation)
    with judge_server(port, score_fn=lambda response: len(response) % 101) as judge:
        code = spp_main(
            eval_argv(
                instruct_model,
                files,
                tmp_path / "llm",
                "--judge",
                "llm",
                "--judge_base_urls",
                judge.base_url,
                "--judge_model",
                "tiny-judge",
            )
        )
        assert code == 0
        assert judge.stats.requests == sum(n for b, n in EXPECTED_N.items() if b != "xstest")
    relabelled = json.loads((tmp_path / "llm" / "results.json").read_text())
    assert relabelled["judge"] == "llm:tiny-judge@50"
    rows = [json.loads(line) for line in (tmp_path / "llm" / "verdicts.jsonl").read_text().splitlines()]
    for row in rows:
        if row["benchmark"] != "xstest":
            assert row["judge"] == "llm:tiny-judge@50"
            assert row["score"] == len(row["response"]) % 101
            assert row["success"] == (row["score"] >= 50)
    assert len((tmp_path / "cache" / "generations.jsonl").read_text().splitlines()) == len(cached)

    assert (
        spp_main(["compare", str(tmp_path / "kw"), str(tmp_path / "llm"), "--output_dir", str(tmp_path / "cmp")]) == 0
    )
    assert (tmp_path / "cmp" / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "keyword" in table and "llm:tiny-judge@50" in table


def test_compare_refuses_different_sft(tmp_path, capsys):
    paths = []
    for name, sft in (("a", "1" * 64), ("b", "2" * 64)):
        result = {
            "model": name,
            "judge": "keyword",
            "sft_hash": sft,
            "benchmarks": {},
            "headline": {
                "benchmarks": [],
                "mean": 0.1,
                "mean_ci": [0, 0.2],
                "max": 0.1,
                "max_benchmark": "advbench",
                "max_ci": [0, 0.2],
            },
        }
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(result))
        paths.append(str(path))
    assert spp_main(["compare", *paths, "--output_dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "same SFT recipe" in err and "1111" in err and "2222" in err
    assert not (tmp_path / "out" / "comparison.png").exists()
    assert spp_main(["compare", *paths, "--output_dir", str(tmp_path / "out"), "--force", "true"]) == 0
    assert (tmp_path / "out" / "comparison.png").is_file()
