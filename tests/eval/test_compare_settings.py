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


def test_compare_checks_the_chat_template_chosen_when_both_record_it(tmp_path, capsys):
    def template(name: str, source: str, sha: str):
        return lambda r: r.__setitem__("chat_template", {"name": name, "source": source, "sha256": sha * 64})

    own_default = template("default", "model:chat_template.jinja", "c")
    other_models_default = template("default", "model:chat_template.jinja", "d")  # e.g. a released model's own
    own_epe = template("epe", "model:additional_chat_templates/epe.jinja", "e")
    file_a, file_b = template("a", "file:/t/a.jinja", "a"), template("a", "file:/t/a.jinja", "b")

    def compare(first, second, out: str) -> int:
        return spp_main(["compare", write(tmp_path, "x", first), write(tmp_path, "y", second), "--output_dir",
                         str(tmp_path / out)])  # fmt: skip

    # each model prompted with its own default template: the template's text is part of the model, as its SFT is
    assert compare(own_default, other_models_default, "own") == 0
    assert compare(file_a, file_a, "same-file") == 0
    capsys.readouterr()
    assert compare(own_default, own_epe, "named") == 2  # another of the model's templates chosen
    assert "chat template differs" in capsys.readouterr().err
    assert compare(file_a, file_b, "file") == 2  # the same file name, other text
    assert compare(own_default, file_a, "kind") == 2
    assert "chat template differs" in capsys.readouterr().err


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
