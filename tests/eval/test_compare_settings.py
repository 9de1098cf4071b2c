"""spp compare refuses results generated differently, naming the setting; --force compares them with the cells
marked; a results file marked incomplete is refused even with --force."""

from __future__ import annotations

import copy
import json

import pytest

from spp.cli import main as spp_main

GENERATION = {"max_new_tokens": 300, "temperature": 0.0, "top_p": 1.0, "seed": 0, "chat_template": True,
              "system_prompt": None}  # fmt: skip
BENCHMARK = {
    "kind": "attack", "metric": "asr", "value": 0.1, "ci": [0.0, 0.2], "n": 16, "unparsed": 0, "judge": "llm:j",
    "sources": {"behaviors": [{"path": "jbb.csv", "sha256": "b" * 64, "rows": 2}]}, "generation": GENERATION,
    "options": {"separator": "\n", "exclude_templates": ["anti-dan"], "max_new_tokens": None},
    "attack_transforms": [], "items_sha256": "i" * 64,
}  # fmt: skip
RESULT = {
    "model": "m", "judge": "llm:j", "sft_hash": "1" * 64, "benchmarks": {"dan": BENCHMARK}, "system_text": None,
    "template_system_turn": None,
    "headline": {"benchmarks": ["dan"], "mean": 0.1, "mean_ci": [0, 0.2], "max": 0.1, "max_benchmark": "dan",
                 "max_ci": [0, 0.2]},
}  # fmt: skip


def write(tmp_path, name: str, change=None) -> str:
    result = copy.deepcopy(RESULT)
    result["model"] = name
    if change:
        change(result)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(result))
    return str(path)


def set_generation(key, value):
    return lambda r: r["benchmarks"]["dan"]["generation"].__setitem__(key, value)


@pytest.mark.parametrize(
    "change, named",
    [
        (set_generation("max_new_tokens", 150), "dan: max_new_tokens differs"),
        (set_generation("system_prompt", "You are Ava."), "dan: system turn differs"),
        (set_generation("temperature", 0.7), "dan: temperature differs"),
        (set_generation("chat_template", False), "dan: chat template applied differs"),
        (lambda r: r["benchmarks"]["dan"]["options"].__setitem__("separator", " "), "dan: construction options"),
        (lambda r: r["benchmarks"]["dan"].__setitem__("items_sha256", "j" * 64), "dan: items differs"),
        (lambda r: r.__setitem__("template_system_turn", "You are SmolLM"), "system turn added by the chat template"),
        (lambda r: r.__setitem__("chat_template", {"sha256": "c" * 64}), None),  # only one records it: not compared
    ],
)
def test_compare_refuses_unlike_generation_naming_the_setting(tmp_path, capsys, change, named):
    results = [write(tmp_path, "baseline"), write(tmp_path, "spp_t0", change)]
    code = spp_main(["compare", *results, "--output_dir", str(tmp_path / "c")])
    err = capsys.readouterr().err
    if named is None:
        assert code == 0
        return
    assert code == 2 and named in err and "Traceback" not in err
    assert spp_main(["compare", *results, "--output_dir", str(tmp_path / "f"), "--force", "true"]) == 0
    table = (tmp_path / "f" / "comparison.md").read_text()
    assert "†" in table and named in table


def test_compare_checks_the_chat_template_sha_when_both_record_it(tmp_path, capsys):
    one = lambda r: r.__setitem__("chat_template", {"sha256": "c" * 64, "source": "model"})  # noqa: E731
    other = lambda r: r.__setitem__("chat_template", {"sha256": "d" * 64, "source": "file"})  # noqa: E731
    assert spp_main(["compare", write(tmp_path, "a", one), write(tmp_path, "b", one), "--output_dir",
                     str(tmp_path / "same")]) == 0  # fmt: skip
    assert spp_main(["compare", write(tmp_path, "a", one), write(tmp_path, "b", other), "--output_dir",
                     str(tmp_path / "diff")]) == 2  # fmt: skip
    assert "chat template sha256 differs" in capsys.readouterr().err


def test_a_sampling_seed_matters_only_when_sampling(tmp_path):
    greedy = [write(tmp_path, "a"), write(tmp_path, "b", set_generation("seed", 7))]
    assert spp_main(["compare", *greedy, "--output_dir", str(tmp_path / "g")]) == 0
    sampled = lambda seed: lambda r: r["benchmarks"]["dan"]["generation"].update(temperature=1.0, seed=seed)  # noqa
    assert spp_main(["compare", write(tmp_path, "c", sampled(0)), write(tmp_path, "d", sampled(7)),
                     "--output_dir", str(tmp_path / "s")]) == 2  # fmt: skip


def test_unparsed_counts_in_the_table_and_chart(tmp_path):
    some = lambda r: r["benchmarks"]["dan"].__setitem__("unparsed", 3)  # noqa: E731
    assert spp_main(["compare", write(tmp_path, "a"), write(tmp_path, "b", some), "--output_dir",
                     str(tmp_path / "c")]) == 0  # fmt: skip
    table = (tmp_path / "c" / "comparison.md").read_text()
    assert "| 10.0 (3 unparsed) |" in table and "| 10.0 |" in table
    assert (
        json.loads((tmp_path / "c" / "comparison.json").read_text())["rows"][1]["benchmarks"]["dan"]["unparsed"] == 3
    )
