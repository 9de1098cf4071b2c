"""The reflection budget is enforced where reflections are made, and what packing cannot insert stops the run.

A generator that writes reflections longer than the budget: ``over_budget: trim`` cuts them at a sentence end,
``reject`` rejects them, both counted; packing the augmented corpus skips nothing; a corpus whose blocks were never
measured (no training tokenizer) stops ``spp pretrain`` at start-up with exit 2 naming the count."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset, load_from_disk

from spp.cli import main as spp_main
from spp.contract import ReflectionContract, encode_reflection
from spp.data import Augmenter, ReflectionFit, SelectionConfig
from spp.generate.base import ReflectionGenerator
from spp.persona import PromptRenderer, load_constitution, load_persona
from spp.pretrain.tokenizer import train_tokenizer

SENTENCE = "I notice a careful point here about honesty and care [1.1]."
TEXTS = [f"Document {i} talks about the river, the market and the old stone bridge in town. " * 4 for i in range(60)]


class LongWinded(ReflectionGenerator):
    """Every reflection is ``sentences`` sentences long: far over a small budget when ``sentences`` is large."""

    name = "long-winded"
    sentences = 12

    def _generate(self, requests):
        body = " ".join([SENTENCE] * self.sentences)
        raw = json.dumps(
            {"analysis": "-", "reflection_1p": body, "reflection_3p": body.replace("I notice", "Ava notices")}
        )
        return [self.judge(r, raw, attempts=1) for r in requests]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(TEXTS + [SENTENCE] * 20, vocab_size=400)


def _augment(tokenizer, policy: str, contract: ReflectionContract):
    from spp.generate.base import GeneratorConfig

    renderer = PromptRenderer(load_constitution(), load_persona(), block_format=contract.block_format)
    generator = LongWinded(GeneratorConfig(backend="offline"), renderer)
    augmenter = Augmenter(
        generator, SelectionConfig(selection_fraction=0.5), fit=ReflectionFit(tokenizer, contract, policy)
    )
    data = Dataset.from_dict({"text": TEXTS}).map(augmenter, batched=True, batch_size=16)
    return data, augmenter.stats


def test_trim_cuts_every_long_reflection_at_a_sentence_end_inside_the_budget(tokenizer):
    contract = ReflectionContract(reflection_budget=48, seq_len=256)
    data, stats = _augment(tokenizer, "trim", contract)
    ok = [r for r in data if r["reflection_status"] == "ok"]
    assert len(ok) == stats.status["ok"] == stats.selected > 10 and stats.trimmed == {"1p": len(ok), "3p": len(ok)}
    for row in ok:
        for voice in ("1p", "3p"):
            text = row[f"reflection_{voice}"]
            assert text.endswith("[1.1].")  # cut at a sentence end
            block = len(encode_reflection(tokenizer, text)) + 2  # marker and end marker
            assert block == row[f"reflection_tokens_{voice}"] <= 48
            # the longest cut that fits: one more sentence would not
            assert len(encode_reflection(tokenizer, text + " " + SENTENCE)) + 2 > 48
        assert row["reflection_reason"] == "trimmed:1p,3p"
        assert 1 <= row["reflection_token_position"] <= contract.max_document_tokens - 1
        prefix = row["text"][: row["reflection_position"]]
        assert len(encode_reflection(tokenizer, prefix)) == row["reflection_token_position"]


def test_reject_policy_rejects_and_counts_every_over_budget_reflection(tokenizer):
    data, stats = _augment(tokenizer, "reject", ReflectionContract(reflection_budget=48, seq_len=256))
    assert stats.status["ok"] == 0 and stats.rejected == {"over_budget:reflection_1p": stats.selected}
    assert {r["reflection_status"] for r in data} == {"none", "rejected"}


def _pretrain(tmp_path, corpus, tokenizer_dir, budget):
    return spp_main(
        [
            "pretrain", "--dataset_path", str(corpus), "--tokenizer_name_or_path", str(tokenizer_dir),
            "--model_spec", "tiny", "--seq_len", "256", "--reflection_budget", str(budget), "--max_steps", "1",
            "--per_device_train_batch_size", "1", "--use_cpu", "true", "--output_dir", str(tmp_path / "run"),
            "--report_to", "none", "--save_strategy", "no",
        ]
    )  # fmt: skip


def test_packing_skips_nothing_that_augmentation_fitted_and_stops_on_unmeasured_blocks(tmp_path, tokenizer, capsys):
    tokenizer.save_pretrained(tmp_path / "tok")
    fitted, _ = _augment(tokenizer, "trim", ReflectionContract(reflection_budget=48, seq_len=256))
    fitted.save_to_disk(str(tmp_path / "fitted"))
    assert _pretrain(tmp_path, tmp_path / "fitted", tmp_path / "tok", 48) == 0
    meta = json.loads((tmp_path / "run" / "spp.json").read_text())
    audit = meta["details"]["packing"]["audit"]
    assert audit["blocks"] == sum(r["reflection_status"] == "ok" for r in fitted) and audit["skipped"] == {}

    # the same generator without a training tokenizer: nothing measured, every block over the budget
    renderer = PromptRenderer(load_constitution(), load_persona())
    from spp.generate.base import GeneratorConfig

    raw = Augmenter(LongWinded(GeneratorConfig(backend="offline"), renderer), SelectionConfig(selection_fraction=0.5))
    unmeasured = Dataset.from_dict({"text": TEXTS}).map(raw, batched=True)
    unmeasured.save_to_disk(str(tmp_path / "raw"))
    ok = raw.stats.status["ok"]
    capsys.readouterr()
    assert _pretrain(tmp_path / "second", tmp_path / "raw", tmp_path / "tok", 48) == 2
    err = capsys.readouterr().err
    assert f"packing would skip {ok} of {ok} reflections" in err and "reflection_budget is 48 tokens" in err
    assert "Traceback" not in err and not (tmp_path / "second" / "run").exists()
    assert load_from_disk(str(tmp_path / "raw")).num_rows == len(TEXTS)
