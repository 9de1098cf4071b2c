"""One held-out window builder (``spp.pretrain.heldout``): what ``spp curves`` rebuilds from a model's recorded data
view and corpus is exactly what pretraining measured, token for token, whatever the arm's placement, layout or
token cache."""

from __future__ import annotations

import pytest

from spp.pretrain import SPPDataArguments, SPPModelArguments, SPPTrainingArguments, build_run
from spp.pretrain.heldout import heldout_windows_of_corpus
from spp.pretrain.run import model_metadata


@pytest.mark.parametrize(
    "arm,layout,cache",
    [("spp_t0", "dense", False), ("spp_t0_end", "document", True), ("baseline", "dense", True)],
    ids=["spp_t0-dense", "spp_t0_end-document-token-cache", "baseline-token-cache"],
)
def test_curves_rebuilds_the_windows_pretraining_measured(corpus_dir, tmp_path, arm, layout, cache):
    data = SPPDataArguments(
        dataset_path=str(corpus_dir),
        arm=arm,
        layout=layout,
        seq_len=128,
        reflection_budget=48,
        heldout_documents=24,
        heldout_windows=6,
        token_cache_dir=str(tmp_path / "tokens") if cache else None,
    )
    args = SPPTrainingArguments(output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=2,
                                use_cpu=True, report_to="none", data_seed=7)  # fmt: skip
    model = SPPModelArguments(model_spec="tiny", tokenizer_name_or_path=f"{corpus_dir}/tokenizer")
    run = build_run(model, data, args)
    measured = run.heldout
    assert len(measured) == 6 and any(w.reflections for w in measured)  # a baseline run measures reflections too
    details = model_metadata(model, data, args, run).details  # what the model's spp.json records, curves reads
    rebuilt = heldout_windows_of_corpus(str(corpus_dir), run.tokenizer, details["data_view"], 6, details["placement"])
    assert [(w.input_ids, w.kinds, w.documents, w.reflections) for w in rebuilt] == [
        (w.input_ids, w.kinds, w.documents, w.reflections) for w in measured
    ]
    if arm == "spp_t0_end":  # the other placement builds other windows: the placement is part of what is rebuilt
        pause = heldout_windows_of_corpus(str(corpus_dir), run.tokenizer, details["data_view"], 6, "pause")
        assert [w.input_ids for w in pause] != [w.input_ids for w in measured]
