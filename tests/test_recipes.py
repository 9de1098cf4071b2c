"""``configs_from_recipe`` builds the configs a ``--config`` YAML with the same keys gives on the command line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from spp.errors import SppConfigError
from spp.recipes import configs_from_recipe, parse_config


def _fields(configs) -> list[dict]:
    return [{f.name: getattr(c, f.name) for f in dataclasses.fields(c)} for c in configs]


def test_a_yaml_string_number_comes_out_of_its_field_type_as_on_the_cli(tmp_path):
    from spp.pretrain.config import SPPDataArguments, SPPModelArguments, SPPTrainingArguments

    types = [SPPModelArguments, SPPDataArguments, SPPTrainingArguments]
    text = "learning_rate: 3e-4\nmax_steps: '7'\nseq_len: 96\nreflection_budget: 32\noutput_dir: OUT\nuse_cpu: true\n"
    recipe = yaml.safe_load(text)
    assert recipe["learning_rate"] == "3e-4" and recipe["max_steps"] == "7"  # YAML 1.1: strings, not numbers
    path = tmp_path / "recipe.yaml"
    path.write_text(text)

    cli = parse_config(types, ["--config", str(path)], prog="spp pretrain")
    memory = configs_from_recipe(types, recipe, source=str(path))

    assert [type(c) for c in memory] == types
    training = memory[2]
    assert training.learning_rate == 3e-4 and type(training.learning_rate) is float
    assert training.max_steps == 7 and type(training.max_steps) is int
    assert (memory[1].seq_len, memory[1].reflection_budget) == (96, 32)
    assert _fields(memory) == _fields(cli)


def test_lists_and_defaults_match_the_cli(tmp_path):
    from spp.eval.config import EvalConfig

    recipe = {"benchmarks": ["advbench", "xstest"], "limit": "3", "max_new_tokens": 16}
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(recipe))
    (cli,) = parse_config([EvalConfig], ["--config", str(path)], prog="spp eval")
    (memory,) = configs_from_recipe([EvalConfig], recipe)
    assert memory.benchmarks == ["advbench", "xstest"] and memory.limit == 3
    assert _fields([memory]) == _fields([cli])


def test_bad_recipes_raise_the_same_config_error_naming_the_source(tmp_path):
    from spp.sft.config import SPPSFTConfig

    with pytest.raises(SppConfigError) as unknown:
        configs_from_recipe([SPPSFTConfig], {"learning_rat": 1e-3}, source="run/recipes/sft.yaml")
    assert unknown.value.source == "run/recipes/sft.yaml" and "learning_rat" in str(unknown.value)

    with pytest.raises(SppConfigError) as bad_value:
        configs_from_recipe([SPPSFTConfig], {"learning_rate": "fast"}, source="run/recipes/sft.yaml")
    assert bad_value.value.source == "run/recipes/sft.yaml" and bad_value.value.field == "learning_rate"

    with pytest.raises(SppConfigError) as not_a_mapping:
        configs_from_recipe([SPPSFTConfig], ["learning_rate", 1e-3], source="x.yaml")  # type: ignore[arg-type]
    assert "mapping" in str(not_a_mapping.value)


def test_a_config_check_names_the_recipe_it_came_from():
    from spp.data.score_job import ScoreJobConfig

    with pytest.raises(SppConfigError) as err:
        configs_from_recipe([ScoreJobConfig], {"num_shards": 2, "shard_index": 5}, source="run/recipes/score.yaml")
    assert err.value.source == "run/recipes/score.yaml" and err.value.field == "shard_index"


# --- recipes that derive from a base (``base:``)

# What each stage needs beyond its defaults to build its configs on this machine.
NEEDS = {"sft": {"use_cpu": True, "bf16": False}, "import-reflections": {"training_tokenizer": "gpt2"}}
# Stages whose fields hold no free text (a recipe for them can only set flags): their recipes derive all the same,
# but this test needs two text fields to tell base from overlay.
NO_TEXT_FIELDS = {"env"}


def _stage_types():
    from spp.experiment.config import ExperimentConfig
    from spp.stages import STAGES

    stages = {
        name: stage.types() for name, stage in STAGES.items() if stage.config_types and name not in NO_TEXT_FIELDS
    }
    return {**stages, "experiment": [ExperimentConfig]}


def _free_text_fields(stage: str, types) -> list[str]:
    """The stage's string fields that take any text (not a choice, not a checked name): the ones a recipe value
    ``from-base`` builds configs with."""
    names = [f.name for t in types for f in dataclasses.fields(t) if f.type in ("str", str) and f.name != "output_dir"]
    found = []
    for name in names:
        try:
            configs_from_recipe(types, {**NEEDS.get(stage, {}), name: "from-base"}, set_env=False, check=False)
        except SppConfigError:
            continue
        found.append(name)
        if len(found) == 2:
            return found
    raise AssertionError(f"{stage}: fewer than two free-text fields")


@pytest.mark.parametrize("stage", sorted(_stage_types()))
def test_every_stage_reads_a_recipe_that_derives_from_a_base(stage, tmp_path):
    """Over every stage's own fields: the base's values arrive, the overlay's replace them, the command line wins."""
    types = _stage_types()[stage]
    first, second = _free_text_fields(stage, types)
    has_output = any("output_dir" in t.__dataclass_fields__ for t in types)
    base = {**NEEDS.get(stage, {}), first: "from-base", second: "from-base"}
    if has_output:
        base["output_dir"] = str(tmp_path / "base-out")
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "base.yaml").write_text(yaml.safe_dump(base))
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"base": "recipes/base", second: "from-overlay"}))

    def value(configs, name):
        return next(getattr(c, name) for c in configs if hasattr(c, name))

    cli = parse_config(types, ["--config", str(overlay)], prog=f"spp {stage}", check=False)
    assert (value(cli, first), value(cli, second)) == ("from-base", "from-overlay")
    if has_output:
        assert value(cli, "output_dir") == str(tmp_path / "base-out")
    override = parse_config(types, ["--config", str(overlay), f"--{first}", "from-cli"], prog="spp", check=False)
    assert value(override, first) == "from-cli"
    memory = configs_from_recipe(types, yaml.safe_load(overlay.read_text()), source=str(overlay), check=False)
    assert _fields(memory) == _fields(cli)


def test_a_chain_of_bases_resolves_nearest_last_and_a_mapping_is_replaced_whole(tmp_path):
    from spp.recipes import load_recipe

    (tmp_path / "a.yaml").write_text("seq_len: 96\nlr_scheduler_kwargs: {num_decay_steps: 2, decay_type: linear}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text("base: ../a.yaml\nseq_len: 64\nmax_steps: 3\n")
    (tmp_path / "c.yml").write_text("base: sub/b\nmax_steps: 5\nlr_scheduler_kwargs: {num_decay_steps: 1}\n")
    assert load_recipe(tmp_path / "c.yml") == {
        "seq_len": 64, "max_steps": 5, "lr_scheduler_kwargs": {"num_decay_steps": 1},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ({"a.yaml": "base: b.yaml\n", "b.yaml": "base: a.yaml\n"}, "cycle"),
        ({"a.yaml": "base: a\n"}, "cycle"),
        ({"a.yaml": "base: missing.yaml\n"}, "base recipe 'missing.yaml' not found"),
        ({"a.yaml": "base: [b.yaml]\n"}, "must be the path of another recipe"),
        ({"a.yaml": "base: b.yaml\n", "b.yaml": "- seq_len\n"}, "mapping of field names"),
    ],
)
def test_a_base_that_cannot_be_resolved_exits_2_naming_the_recipe(files, says, tmp_path, capsys):
    from spp.cli import main as spp_main

    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert spp_main(["pretrain", "--config", str(tmp_path / "a.yaml"), "--output_dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert says in err and str(tmp_path) in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_the_experiment_and_its_stage_recipes_resolve_their_bases(tmp_path, monkeypatch):
    """The released-SFT study is its base study with two sections replaced: the same steps and hashes up to the SFT,
    no bind step; its SFT recipe is identical.yaml's with the datasets replaced."""
    from spp.experiment.cli import parse
    from spp.experiment.plan import build_plan
    from spp.recipes import load_recipe

    repo = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(repo)
    same = ["--output_dir", str(tmp_path), "--name", "study"]  # they name their folders and published repos apart
    variant = parse(["--config", "recipes/experiments/paper_1.7b_released_sft.yaml", *same])
    paper = parse(["--config", "recipes/experiments/paper_1.7b.yaml", *same])
    assert not variant.bind and variant.sft == {"recipe": "recipes/sft/released.yaml"} and paper.bind
    steps, base = ({s.name: s for s in build_plan(c)} for c in (variant, paper))
    assert set(base) - set(steps) == {"bind-data"}
    assert all(steps[n].hash == base[n].hash for n in steps if n.split("-")[0] in ("score", "augment", "pretrain"))
    sft = steps["sft-spp_t0"].recipe
    released = load_recipe(repo / "recipes/sft/released.yaml")
    assert sft["datasets"] == released["datasets"] and "base" not in sft
    identical = load_recipe(repo / "recipes/sft/identical.yaml")
    assert {k: v for k, v in released.items() if k != "datasets"} == {k: v for k, v in identical.items() if k != "datasets"}


def test_an_experiment_override_cannot_be_a_base(tmp_path):
    from spp.experiment.config import load_experiment, stage_recipe

    config = load_experiment("demo", output_dir=str(tmp_path), pretrain={"overrides": {"base": "x.yaml"}})
    with pytest.raises(SppConfigError, match="not an override") as err:
        stage_recipe(config, "pretrain", arm="spp_t0")
    assert err.value.field == "pretrain.overrides.base"


def test_the_fix_says_which_kind_of_mistake_a_refused_recipe_holds(tmp_path):
    """An unknown field (in the recipe or on the command line) is told to use --help's field names; a value that a
    config's own ``__post_init__`` refuses (here transformers': bf16 on a machine without a GPU) is told to change that
    value, not to rename a field it spelled right."""
    import torch

    from spp.pretrain.config import SPPDataArguments, SPPModelArguments, SPPTrainingArguments

    types = [SPPModelArguments, SPPDataArguments, SPPTrainingArguments]
    path = tmp_path / "recipe.yaml"
    path.write_text("output_dir: OUT\nuse_cpu: true\n")
    with pytest.raises(SppConfigError) as err:
        parse_config(types, ["--config", str(path), "--not_a_field", "1"], prog="spp pretrain")
    assert err.value.fix == "use the field names that --help lists"
    (tmp_path / "unknown.yaml").write_text("output_dir: OUT\nnot_a_field: 1\n")
    with pytest.raises(SppConfigError) as err:
        parse_config(types, ["--config", str(tmp_path / "unknown.yaml")], prog="spp pretrain")
    assert err.value.fix == "use the field names that --help lists"
    if torch.cuda.is_available():
        pytest.skip("bf16 is refused only on a machine without a GPU")
    path.write_text("output_dir: OUT\nbf16: true\n")
    with pytest.raises(SppConfigError) as err:
        parse_config(types, ["--config", str(path)], prog="spp pretrain")
    assert "bf16" in err.value.detail and err.value.fix == "change the value the message names (--help)"
