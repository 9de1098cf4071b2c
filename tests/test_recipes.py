"""``configs_from_recipe`` builds the configs a ``--config`` YAML with the same keys gives on the command line."""

from __future__ import annotations

import dataclasses

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
