"""The SPP authors' block format, ``<assistant>`` + reflection with no end token (``end_marker: ''``), through every
stage: augment, pretrain (blocks without an end token), the identical SFT (turns end with EOS) and eval."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from spp.experiment.cli import experiment_main

REPO = Path(__file__).parents[1]


def test_an_empty_end_marker_trains_sfts_and_evaluates_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # the experiment recipe names the repository's stage recipes
    out = tmp_path / "exp"
    recipe = yaml.safe_load((REPO / "recipes/experiments/tiny.yaml").read_text())
    recipe["augment"]["overrides"].update(marker="<assistant>", end_marker="", max_documents=200)
    recipe["pretrain"]["overrides"].update(max_steps=6, save_steps=6, logging_steps=3)
    recipe["pretrain"]["overrides"]["checkpoint_export_dir"] = str(tmp_path / "export")  # not the recipe's runs/
    recipe["pretrain"]["overrides"]["lr_scheduler_kwargs"] = {"num_decay_steps": 2, "decay_type": "linear"}
    recipe["sft"]["overrides"].update(max_steps=2)
    recipe["eval"]["overrides"].update(benchmarks=["advbench"], limit=3, bootstrap_samples=20)
    recipe.pop("publish", None)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert experiment_main(["--config", str(path), "--output_dir", str(out), "--arms", "spp_t0"]) == 0

    corpus = json.loads((out / "data/augmented/spp.json").read_text())
    assert corpus["block_format"] == {"marker": "<assistant>", "end_marker": ""}
    base = json.loads((out / "models/spp_t0/spp.json").read_text())
    assert base["details"]["contract"]["end_marker"] == "" and base["details"]["packing"]["audit"]["skipped"] == {}
    assert base["details"]["packing"]["trained_windows"]["reflections_packed"] > 0
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out / "models/spp_t0-instruct")
    assert "<assistant>" in tokenizer.get_vocab() and "" not in tokenizer.get_vocab()
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], tokenize=False
    )
    assert rendered.endswith("<assistant>hello" + tokenizer.eos_token)  # no end marker: the turn ends with EOS
    results = json.loads((out / "results/spp_t0/results.json").read_text())
    assert results["benchmarks"]["advbench"]["n"] == 3
