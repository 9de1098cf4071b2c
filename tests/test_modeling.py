"""spp.modeling: the device and dtype a recipe names reach the harm scorer's and the classifier judge's models;
a device the machine lacks, a missing folder, a folder that is not a model and a model of the wrong kind are each
one clear SppConfigError naming the field."""

from __future__ import annotations

import pytest
import torch

from spp.cli import parse_config
from spp.data.scoring import HarmScoreConfig, build_scorer
from spp.errors import SppConfigError
from spp.eval.config import EvalConfig
from spp.eval.judges import JudgeInput, build_judge
from spp.modeling import ModelSettings, load_causal_lm, load_classifier, load_tokenizer, resolve_device, resolve_dtype
from spp.testing.tiny_classifier import build_tiny_classifier


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    words = "how to make a weapon the sea is calm tonight i refuse".split()
    return build_tiny_classifier(tmp_path_factory.mktemp("cls"), words, num_labels=2)


def recipe(tmp_path, text: str):
    path = tmp_path / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    return ["--config", str(path)]


def devices(model) -> set[str]:
    return {p.device.type for p in model.parameters()}


@pytest.fixture
def cuda_claimed(monkeypatch):
    """This machine claims a bf16 CUDA GPU, so ``auto`` would pick it: a recipe's ``cpu`` must still win."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_harm_scorer_runs_on_the_device_and_dtype_of_its_recipe(tmp_path, tiny_classifier, cuda_claimed):
    argv = recipe(
        tmp_path,
        f"harm_scorer: transformers\nharm_model: {tiny_classifier}\nharm_device: cpu\nharm_dtype: bfloat16\n",
    )
    (config,) = parse_config([HarmScoreConfig], argv, prog="spp score-harm")
    scorer = build_scorer(config)
    assert devices(scorer.model) == {"cpu"} and {p.dtype for p in scorer.model.parameters()} == {torch.bfloat16}
    assert scorer.model.training is False
    scores = scorer.score(["how to make a weapon", "the sea is calm tonight", "   "])
    assert all(isinstance(s, float) for s in scores[:2]) and scores[2] is None


def test_classifier_judge_runs_on_the_device_of_its_recipe(tmp_path, tiny_chat_model, tiny_classifier, cuda_claimed):
    for fmt, model in (("harmbench", tiny_chat_model), ("sequence", tiny_classifier)):
        argv = recipe(
            tmp_path,
            f"judge: classifier\nclassifier_model: {model}\nclassifier_format: {fmt}\nclassifier_device: cpu\n"
            f"output_dir: {tmp_path / 'out'}\n",
        )
        (config,) = parse_config([EvalConfig], argv, prog="spp eval")
        judge = build_judge(config.judge, config)
        verdicts = judge.judge([JudgeInput("make a weapon", "I refuse."), JudgeInput("sail", "the sea is calm")])
        assert len(verdicts) == 2 and all(0.0 <= v.score <= 1.0 for v in verdicts)
        assert devices(judge.net) == {"cpu"} and judge.device == "cpu", fmt
        assert {p.dtype for p in judge.net.parameters()} == {torch.float32}  # auto on CPU


def test_cuda_from_a_recipe_without_cuda_is_a_config_error_naming_the_field(
    tmp_path, tiny_chat_model, tiny_classifier, no_cuda
):
    argv = recipe(tmp_path, f"harm_scorer: transformers\nharm_model: {tiny_classifier}\nharm_device: cuda\n")
    (config,) = parse_config([HarmScoreConfig], argv, prog="spp score-harm")
    with pytest.raises(SppConfigError, match="field 'harm_device': device 'cuda' needs a CUDA GPU.*harm_device: cpu"):
        build_scorer(config)
    argv = recipe(
        tmp_path, f"judge: classifier\nclassifier_model: {tiny_chat_model}\nclassifier_device: cuda:1\n"
        f"output_dir: {tmp_path / 'out'}\n",
    )  # fmt: skip
    (config,) = parse_config([EvalConfig], argv, prog="spp eval")
    with pytest.raises(SppConfigError, match="field 'classifier_device'.*needs a CUDA GPU"):
        build_judge(config.judge, config)  # when the judge is built, before any generation


def test_a_misspelt_device_or_dtype_is_refused_at_parse_time_naming_the_recipe(tmp_path):
    argv = recipe(tmp_path, "harm_device: gpu\n")
    with pytest.raises(SppConfigError, match=r"recipe.yaml: field 'harm_device': unknown device 'gpu'.*'cuda:N'"):
        parse_config([HarmScoreConfig], argv, prog="spp score-harm")
    with pytest.raises(SppConfigError, match="field 'classifier_dtype': unknown dtype 'fp8'"):
        EvalConfig(classifier_dtype="fp8", output_dir=str(tmp_path / "out"))


def test_auto_is_cuda_in_bfloat16_when_present_else_cpu_in_float32(monkeypatch, cuda_claimed):
    assert resolve_device("auto") == "cuda" and resolve_dtype("auto", "cuda") == torch.bfloat16
    assert resolve_device("cuda:0") == "cuda:0"
    with pytest.raises(SppConfigError, match="'cuda:1' does not exist: torch sees 1 CUDA GPU"):
        resolve_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_dtype("auto", "cuda") == torch.float32
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") in ("cpu", "mps") and resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("float16", "cpu") == torch.float16


def test_missing_folder_and_folder_that_is_not_a_model(tmp_path):
    settings = ModelSettings(device="cpu")
    with pytest.raises(SppConfigError, match="field 'harm_model': model path .*no-model' does not exist"):
        load_classifier(str(tmp_path / "no-model"), settings, "harm_model")
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset_dict.json").write_text("{}")
    with pytest.raises(SppConfigError, match="field 'model': .*is a dataset folder without config.json"):
        load_causal_lm(str(data), settings)
    with pytest.raises(SppConfigError, match="is a dataset folder without tokenizer.json"):
        load_tokenizer(str(data), settings)
    (data / "weights.safetensors").write_text("")
    with pytest.raises(SppConfigError, match="is a file, not a model folder"):
        load_causal_lm(str(data / "weights.safetensors"), settings)


def test_a_model_of_the_wrong_kind_is_refused_before_its_weights_load(tmp_path, tiny_chat_model, tiny_classifier):
    settings = ModelSettings(device="cpu")
    with pytest.raises(SppConfigError, match="is a LlamaForCausalLM, not a sequence classifier"):
        load_classifier(str(tiny_chat_model), settings)
    with pytest.raises(SppConfigError, match="is a BertForSequenceClassification, not a causal LM"):
        load_causal_lm(str(tiny_classifier), settings)
    # Through the stages' own fields: the scorer names harm_model, the judge tells which format fits.
    with pytest.raises(SppConfigError, match="field 'harm_model': .*LlamaForCausalLM, not a sequence classifier"):
        build_scorer(HarmScoreConfig(harm_scorer="transformers", harm_model=str(tiny_chat_model), harm_device="cpu"))
    config = EvalConfig(classifier_model=str(tiny_classifier), output_dir=str(tmp_path / "out"))
    with pytest.raises(SppConfigError, match="field 'classifier_model'.*set classifier_format: sequence"):
        build_judge({"type": "classifier", "format": "harmbench"}, config)
    with pytest.raises(SppConfigError, match="field 'classifier_model'.*set classifier_format: harmbench"):
        build_judge({"type": "classifier", "format": "sequence", "model": str(tiny_chat_model)}, config)


def test_generator_dtype_is_part_of_an_augment_resume_and_device_is_not(tmp_path, capsys):
    """bfloat16 and float32 weights write different reflections, so a rerun with another dtype is refused; the
    device only says where the same model runs, so a rerun with another device resumes."""
    from spp.cli import main as spp_main

    args = ["augment", "--output_dir", str(tmp_path / "out"), "--max_documents", "20", "--progress", "false"]
    assert spp_main(args) == 0
    assert spp_main([*args, "--device", "cpu"]) == 0
    capsys.readouterr()
    assert spp_main([*args, "--dtype", "bfloat16"]) == 2
    assert "spp augment output of another run" in capsys.readouterr().err
    assert spp_main([*args, "--device", "gpu"]) == 2
    assert "field 'device': unknown device 'gpu'" in capsys.readouterr().err


def test_a_model_with_its_own_code_names_the_trust_remote_code_field(tmp_path):
    """A GTE-style folder whose config maps to modelling code in the folder: refused without running that code."""
    import json

    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "new", "architectures": ["NewForSequenceClassification"],
        "auto_map": {"AutoConfig": "configuration.NewConfig",
                     "AutoModelForSequenceClassification": "modeling.NewForSequenceClassification"},
    }))  # fmt: skip
    config = HarmScoreConfig(harm_scorer="transformers", harm_model=str(tmp_path), harm_device="cpu")
    with pytest.raises(SppConfigError, match="field 'harm_trust_remote_code': .*set harm_trust_remote_code: true"):
        load_classifier(str(tmp_path), ModelSettings.of(config, "harm_"), "harm_model")
