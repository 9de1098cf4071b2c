"""The shipped SFT recipes parse into SPPSFTConfig with the settings the README promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from spp.cli import parse_config
from spp.sft.config import SPPSFTConfig

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "sft"


@pytest.mark.parametrize("name", ["identical", "tiny"])
def test_recipe_parses_with_assistant_only_loss_and_safe_packing(name, monkeypatch):
    monkeypatch.chdir(RECIPES.parents[1])
    argv = ["--config", str(RECIPES / f"{name}.yaml"), "--bf16", "false", "--use_cpu", "true", "--output_dir", "x"]
    (config,) = parse_config([SPPSFTConfig], argv, prog="spp sft")
    assert config.assistant_only_loss and config.packing and config.packing_strategy == "bfd"
    assert config.citation_stage == "strip" and config.dataset_specs


def test_identical_recipe_names_the_tulu_mixture(monkeypatch):
    monkeypatch.chdir(RECIPES.parents[1])
    argv = ["--config", str(RECIPES / "identical.yaml"), "--bf16", "false", "--use_cpu", "true"]
    (config,) = parse_config([SPPSFTConfig], argv, prog="spp sft")
    tulu = config.dataset_specs[0]
    assert tulu.path == "allenai/tulu-3-sft-mixture" and tulu.revision and len(config.dataset_specs) == 1
    assert config.per_device_train_batch_size * config.gradient_accumulation_steps == 128
