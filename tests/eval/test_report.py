"""Model-card model-index, capability extras, system prompts and CLI errors."""

from __future__ import annotations

import builtins
import shutil

import pytest

from spp.cli import main as spp_main
from spp.errors import SppConfigError
from spp.eval.config import EvalConfig
from spp.eval.report import model_index_rows, update_model_card
from spp.eval.turns import system_text
from spp.metadata import SppMetadata
from spp.persona import load_persona

RESULTS = {
    "benchmarks": {
        "advbench": {"metric": "asr", "value": 0.1234567},
        "xstest": {"metric": "refusal_rate", "value": 0.25},
    },
    "headline": {"mean": 0.05},
}


def test_model_index_rows_and_card(tmp_path):
    rows = model_index_rows(RESULTS)
    assert rows[0] == {"benchmark": "advbench", "metric": "asr", "value": 0.1235, "dataset_id": "walledai/AdvBench"}
    assert rows[-1]["metric"] == "mean_asr" and rows[-1]["value"] == 0.05
    assert update_model_card(tmp_path, RESULTS) is None  # no spp.json: nothing to render from
    SppMetadata(kind="instruct_model", arm="spp_t0", sft_hash="b" * 64).save(tmp_path)
    card = update_model_card(tmp_path, RESULTS).read_text()
    assert "model-index" in card and "mean_asr" in card and "walledai/AdvBench" in card


def test_capability_without_extra_names_it(monkeypatch):
    from spp.eval.capability import run_harness

    real_import = builtins.__import__

    def no_lm_eval(name, *args, **kwargs):
        if name == "lm_eval":
            raise ImportError("No module named 'lm_eval'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lm_eval)
    with pytest.raises(SppConfigError, match=r"spp\[capability\]"):
        run_harness("model", ["mmlu"])


def test_heldout_perplexity(tiny_chat_model, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from spp.eval.capability import heldout_perplexity, read_texts

    (tmp_path / "held.txt").write_text("I read this text carefully.\n\nAnother held-out document here.\n")
    texts = read_texts(tmp_path / "held.txt")
    model = AutoModelForCausalLM.from_pretrained(tiny_chat_model)
    out = heldout_perplexity(model, AutoTokenizer.from_pretrained(tiny_chat_model), texts)
    assert len(texts) == 2 and out["tokens"] > 0
    assert 1.0 < out["perplexity"] < 2 * model.config.vocab_size  # a random model: about uniform over the vocab


def test_system_prompt_modes():
    persona = load_persona()
    assert system_text(EvalConfig(system_prompt="none"), persona) is None
    assert system_text(EvalConfig(system_prompt="persona"), persona).startswith("You are Lumen.")
    assert system_text(EvalConfig(system_prompt="Be safe."), None) == "Be safe."
    with pytest.raises(SppConfigError, match="persona"):
        system_text(EvalConfig(system_prompt="persona"), None)


def test_cli_unknown_benchmark_exits_2(tiny_chat_model, tmp_path, capsys):
    model = tmp_path / "m"
    shutil.copytree(tiny_chat_model, model)
    code = spp_main(["eval", "--model", str(model), "--benchmarks", "advbench", "nope", "--output_dir", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'nope'" in err and "jbb_artifacts" in err
