"""The corpus owns the reflection contract: pretraining reads ``seq_len`` and ``reflection_budget`` from its
``spp.json`` (``spp.pretrain.corpus.with_corpus_contract``), accepts the same value stated again, and refuses a
different one with exit 2 before anything is written; a contract recorded as not enforced binds nothing."""

from __future__ import annotations

import shutil

import pytest

from spp.cli import main as spp_main
from spp.contract import CONTRACT_SIZES, ReflectionContract, record_contract
from spp.errors import SppConfigError
from spp.metadata import SppMetadata
from spp.pretrain import SPPDataArguments, SPPModelArguments, SPPTrainingArguments, build_run
from spp.pretrain.corpus import with_corpus_contract

RECORDED = {"seq_len": 128, "reflection_budget": 48}


def _corpus(corpus_dir, tmp_path, **facts):
    """A copy of the fixture corpus whose spp.json records the contract ``RECORDED`` (and ``facts``)."""
    folder = tmp_path / "corpus"
    shutil.copytree(corpus_dir, folder)
    record_contract(SppMetadata(kind="dataset"), ReflectionContract(**RECORDED), **facts).save(folder)
    return folder


def test_unset_values_are_the_corpus_s_and_train_with_them(corpus_dir, tmp_path):
    folder = _corpus(corpus_dir, tmp_path, enforced=True)
    data = SPPDataArguments(dataset_path=str(folder), arm="spp_t0")
    assert (data.seq_len, data.reflection_budget) == (None, None)
    args = SPPTrainingArguments(output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=2,
                                use_cpu=True, report_to="none")  # fmt: skip
    run = build_run(SPPModelArguments(model_spec="tiny", tokenizer_name_or_path=f"{folder}/tokenizer"), data, args)
    assert {k: run.extra["view_fields"][k] for k in CONTRACT_SIZES} == RECORDED
    assert run.train_dataset.seq_len == RECORDED["seq_len"]
    assert len(next(iter(run.train_dataset.windows())).input_ids) == RECORDED["seq_len"] + 1


@pytest.mark.parametrize("name", CONTRACT_SIZES)
def test_the_same_value_is_accepted_a_different_one_refused(corpus_dir, tmp_path, name):
    folder = _corpus(corpus_dir, tmp_path)
    same = with_corpus_contract(SPPDataArguments(dataset_path=str(folder), **{name: RECORDED[name]}))
    assert {k: getattr(same, k) for k in CONTRACT_SIZES} == RECORDED
    with pytest.raises(SppConfigError) as refused:
        with_corpus_contract(SPPDataArguments(dataset_path=str(folder), **{name: RECORDED[name] - 8}))
    assert refused.value.field == name and f"records {RECORDED[name]}" in str(refused.value)
    assert str(folder / "spp.json") in str(refused.value)


@pytest.mark.parametrize("name", CONTRACT_SIZES)
def test_a_contract_augment_did_not_enforce_binds_nothing(corpus_dir, tmp_path, name):
    folder = _corpus(corpus_dir, tmp_path, enforced=False)
    data = with_corpus_contract(SPPDataArguments(dataset_path=str(folder), **{name: RECORDED[name] - 8}))
    assert getattr(data, name) == RECORDED[name] - 8  # the value given wins; the other is still the corpus's
    other = next(k for k in CONTRACT_SIZES if k != name)
    assert getattr(data, other) == RECORDED[other]


def test_a_corpus_without_a_contract_gives_the_defaults(corpus_dir, caplog):
    data = with_corpus_contract(SPPDataArguments(dataset_path=str(corpus_dir)))
    defaults = ReflectionContract()
    assert (data.seq_len, data.reflection_budget) == (defaults.seq_len, defaults.reflection_budget)
    assert "records no seq_len or reflection_budget" in caplog.text


def test_spp_pretrain_refuses_a_different_seq_len_with_exit_2_and_writes_nothing(corpus_dir, tmp_path, capsys):
    folder = _corpus(corpus_dir, tmp_path)
    out = tmp_path / "out"
    argv = ["pretrain", "--dataset_path", str(folder), "--tokenizer_name_or_path", str(folder / "tokenizer"),
            "--model_spec", "tiny", "--seq_len", "256", "--max_steps", "1", "--use_cpu", "true", "--report_to",
            "none", "--output_dir", str(out)]  # fmt: skip
    assert spp_main(argv) == 2
    err = capsys.readouterr().err
    assert "field 'seq_len'" in err and "records 128" in err and "Traceback" not in err
    assert not out.exists()
