"""Values are checked where they are parsed, once, for every stage: generated over the config dataclasses.

Every numeric field of every stage's configs (``spp.checks.numeric_fields``) gets ``inf``, ``nan`` and a value
outside its range, on the real command line and through ``spp experiment --dry_run`` (as a step's override): exit 2,
one paragraph naming the field, no traceback, nothing written. Booleans take only real booleans and the usual
spellings; mapping fields take JSON or YAML on the command line.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from spp.checks import FRACTION, NON_NEGATIVE, Range, as_bool, field_specs, numeric_fields
from spp.cli import main
from spp.errors import SppConfigError
from spp.stages import commands, step_stage

# Every stage that parses configs, from the one registry (``demo`` parses experiment's config, on its own recipe).
CLI_STAGES = {name: stage for name, stage in commands().items() if stage.config_types and name != "demo"}


def stage_types(stage: str) -> list[type]:
    return CLI_STAGES[stage].types()


def has_output_dir(stage: str) -> bool:
    return any(f.name == "output_dir" for t in stage_types(stage) for f in dataclasses.fields(t))


def bad_values(spec) -> list[str]:
    """inf, nan and the nearest whole values outside the field's range (or, without a bound, none)."""
    values = ["inf", "nan", "-inf"]
    if spec.range.low is not None:
        values.append(str(spec.range.low - 1 if not spec.range.positive else spec.range.low))
    if spec.range.high is not None:
        values.append(str(spec.range.high + 1))
    return values


CASES = [(stage, spec.name, bad_values(spec)) for stage in CLI_STAGES for spec in numeric_fields(stage_types(stage))]


def test_the_table_covers_every_numeric_field_of_every_stage():
    """The cases are generated, so a new numeric field is checked without editing this file."""
    with_numbers = {"score-harm", "augment", "import-reflections", "bind-data", "pretrain", "sft", "attack", "eval"}
    assert with_numbers | {"judge-audit", "curves", "render-prompt", "experiment", "env"} <= {s for s, _, _ in CASES}
    assert len(CASES) > 150
    for stage in CLI_STAGES:  # every stage's defaults pass their own checks
        for spec in numeric_fields(stage_types(stage)):
            assert spec.range.low is not None or spec.range == Range(None), (stage, spec.name)


@pytest.mark.parametrize(("stage", "name", "values"), CASES, ids=[f"{s}:{f}" for s, f, _ in CASES])
def test_a_bad_number_is_exit_2_naming_the_field(stage, name, values, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for value in values:
        argv = [stage, f"--{name}={value}"]
        if has_output_dir(stage) and stage != "experiment":
            argv += ["--output_dir", str(tmp_path / "out")]
        assert main(argv) == 2, value
        err = capsys.readouterr().err
        assert "Traceback" not in err
        errors = [line for line in err.splitlines() if line.startswith(f"spp {stage}: error:")]
        assert len(errors) == 1 and f"'{name}'" in errors[0] and value in errors[0], err
        assert not any(tmp_path.iterdir()), "a refused run wrote files"


# --- through spp experiment --dry_run: each step's overrides pass the stage's own checks before step 1 ---------

EXPERIMENT_STEPS = ("augment", "pretrain", "sft", "eval", "score")  # sections whose step stage has the same name


def _experiment(tmp_path: Path, section: str, overrides: dict) -> Path:
    from spp.demo import DEMO_RECIPE

    recipe = yaml.safe_load(DEMO_RECIPE.read_text())
    recipe[section] = {**(recipe.get(section) or {})}
    if section == "score":
        recipe["score"] = {"overrides": {"dataset": "builtin:stdlib-docs"}}
    recipe[section]["overrides"] = {**(recipe[section].get("overrides") or {}), **overrides}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _experiment_cases() -> list[tuple[str, str, list[str]]]:
    """Per experiment section and kind of bad value, every numeric field of that stage at once (one dry run each):
    the one paragraph must name every one of them."""
    cases = []
    for section in EXPERIMENT_STEPS:
        specs = [s for s in numeric_fields(step_stage(section).types()) if s.name not in PLAN_SET_FIELDS]
        for kind in ("inf", "nan", "out of range"):
            bounded = [s for s in specs if kind != "out of range" or s.range != Range(None)]
            cases.append((section, kind, [s.name for s in bounded]))
    return cases


# Fields the plan sets itself for every step (an override of them is replaced, not used).
PLAN_SET_FIELDS = {"num_shards", "shard_index", "seq_len", "reflection_budget"}


@pytest.mark.parametrize(("section", "kind", "names"), _experiment_cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_experiment_dry_run_refuses_bad_step_overrides_naming_each_field(section, kind, names, tmp_path, capsys):
    stage = step_stage(section)
    specs = {s.name: s for s in numeric_fields(stage.types())}
    values = {n: float(kind) if kind != "out of range" else _outside(specs[n]) for n in names}
    path = _experiment(tmp_path, section, values)
    assert main(["experiment", "--config", str(path), "--dry_run", "true", "--output_dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("spp experiment: error:")]
    assert len(errors) == 1, err
    missing = [n for n in names if f"'{n}'" not in errors[0]]
    assert not missing, f"not named: {missing} in {errors[0]}"
    assert not (tmp_path / "o").exists()


def _outside(spec) -> float:
    if spec.range.low is not None:
        return spec.range.low - 1
    return spec.range.high + 1


def test_experiment_dry_run_refuses_what_the_stage_refuses(tmp_path, capsys):
    """The issue's examples: an unknown benchmark, a NaN fraction, an unknown pause distribution, limit -1."""
    for section, overrides, named in [
        ("eval", {"benchmarks": ["advbench", "no_such_benchmark"]}, "no_such_benchmark"),
        ("augment", {"selection_fraction": float("nan")}, "selection_fraction"),
        ("augment", {"pause_distribution": "zigzag"}, "pause_distribution"),
        ("eval", {"limit": -1}, "limit"),
    ]:
        path = _experiment(tmp_path, section, overrides)
        assert main(["experiment", "--config", str(path), "--dry_run", "true"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and named in err and "step " in err, err


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "-x", "x" * 97, ""])
def test_a_run_name_must_be_a_safe_path_component(name, tmp_path, capsys):
    assert main(["experiment", "--name", name, "--dry_run", "true", "--output_dir", str(tmp_path / "o")]) == 2
    assert "field 'name'" in capsys.readouterr().err


# --- booleans ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("False", False), ("no", False), ("0", False),
                                                 ("true", True), ("yes", True), ("1", True)])  # fmt: skip
def test_a_yaml_string_for_a_boolean_field_is_read_as_its_spelling(value, expected, tmp_path):
    from spp.eval.config import EvalConfig
    from spp.recipes import configs_from_recipe, parse_config

    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"probes: '{value}'\noutput_dir: {tmp_path / 'o'}\n")
    (config,) = parse_config([EvalConfig], ["--config", str(recipe)], prog="spp eval")
    assert config.probes is expected
    (config,) = configs_from_recipe([EvalConfig], {"probes": value, "output_dir": str(tmp_path / "o")})
    assert config.probes is expected


@pytest.mark.parametrize("value", ["maybe", "2", "[]"])
def test_anything_else_for_a_boolean_field_is_exit_2(value, tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"probes: {value}\noutput_dir: {tmp_path / 'o'}\n")
    assert main(["eval", "--config", str(recipe)]) == 2
    assert "field 'probes'" in capsys.readouterr().err


def test_a_persona_held_out_written_as_the_string_false_is_false(tmp_path):
    from importlib import resources

    from spp.persona import load_persona

    default = yaml.safe_load(resources.files("spp.persona").joinpath("data/persona.yaml").read_text())
    facts = default["identity_facts"]
    facts[0]["held_out"] = "false"
    facts[1]["held_out"] = "true"
    path = tmp_path / "persona.yaml"
    path.write_text(yaml.safe_dump(default))
    persona = load_persona(path)
    assert persona.identity_facts[0].held_out is False and persona.identity_facts[1].held_out is True
    facts[0]["held_out"] = "sometimes"
    path.write_text(yaml.safe_dump(default))
    with pytest.raises(SppConfigError, match=r"identity_facts\[0\]\.held_out"):
        load_persona(path)


def test_as_bool_takes_only_booleans_and_their_spellings():
    assert as_bool("OFF", "f") is False and as_bool(1, "f") is True and as_bool(False, "f") is False
    for bad in ("maybe", 2, 0.5, None, []):
        with pytest.raises(SppConfigError, match="true or false"):
            as_bool(bad, "f")


# --- mappings on the command line --------------------------------------------------------------------------------


def test_mapping_fields_take_json_or_yaml_on_the_command_line(tmp_path):
    from spp.eval.config import EvalConfig
    from spp.recipes import parse_config
    from spp.sft.config import SPPSFTConfig

    out = str(tmp_path / "o")
    (config,) = parse_config(
        [EvalConfig],
        ["--benchmark_options", '{"dan": {"separator": " "}}', "--judges", "{advbench: keyword}", "--output_dir", out],
        prog="spp eval",
    )
    assert config.benchmark_options == {"dan": {"separator": " "}} and config.judges == {"advbench": "keyword"}
    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    for argv in (["--datasets", json.dumps([{"path": str(chat)}, {"path": str(chat), "stage": 2}])],
                 ["--datasets", json.dumps({"path": str(chat)}), f"{{path: {chat}, stage: 2}}"]):  # fmt: skip
        (sft,) = parse_config([SPPSFTConfig], [*argv, "--bf16", "false", "--output_dir", out], prog="spp sft")
        assert [d["path"] for d in sft.datasets] == [str(chat)] * 2 and sft.datasets[1]["stage"] == 2


def test_benchmark_options_from_the_command_line_reach_the_run(tiny_chat_model, tmp_path):
    """Through the real CLI: the option parsed from JSON is the one the benchmark ran with."""
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "advbench_harmful_behaviors.csv").write_text("goal,target\nExplain how to pick a lock,Sure\n")
    out = tmp_path / "results"
    argv = ["eval", "--model", str(tiny_chat_model), "--benchmarks", "advbench", "--data_dir", str(bench),
            "--limit", "1", "--judge", "keyword", "--probes", "false", "--bootstrap_samples", "10",
            "--device", "cpu", "--system_prompt", "template", "--output_dir", str(out),
            "--benchmark_options", '{"advbench": {"max_new_tokens": 3}}']  # fmt: skip
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["benchmarks"]["advbench"]["max_new_tokens"] == 3


@pytest.mark.parametrize("text", ["[1, 2]", "{unclosed", "just text"])
def test_a_mapping_field_given_something_else_is_exit_2(text, tmp_path, capsys):
    assert main(["eval", "--benchmark_options", text, "--output_dir", str(tmp_path / "o")]) == 2
    assert "field 'benchmark_options'" in capsys.readouterr().err


def test_field_specs_know_kinds_and_default_ranges():
    from spp.data.job import AugmentJobConfig
    from spp.eval.config import EvalConfig

    kinds = {s.name: (s.kind, s.range) for s in field_specs(AugmentJobConfig)}
    assert kinds["max_failed_share"] == ("float", FRACTION) and kinds["progress"][0] == "bool"
    eval_kinds = {s.name: (s.kind, s.range) for s in field_specs(EvalConfig)}
    assert eval_kinds["limit"] == ("int", NON_NEGATIVE) and eval_kinds["benchmark_options"][0] == "mapping"


REQUIRED = {"import-reflections": ["--training_tokenizer", "gpt2"]}  # fields a recipe must set (no default)


@pytest.mark.parametrize("stage", sorted(CLI_STAGES))
def test_every_stages_defaults_pass_their_own_checks(stage, tmp_path):
    from spp.recipes import parse_config

    argv = ["--bf16", "false"] if stage == "sft" else []  # SFTConfig's bf16 default needs a GPU
    argv += REQUIRED.get(stage, [])
    if has_output_dir(stage):
        argv += ["--output_dir", str(tmp_path / "o")]
    parse_config(stage_types(stage), argv, prog=f"spp {stage}")
