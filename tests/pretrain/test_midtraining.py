"""The enriched midtraining stream (``midtraining_annotated_share``), ``spp_t0_mt``, and a run that continues another
run's stream (``build_run(start_step=...)``, what spp_mt from a baseline checkpoint needs)."""

from __future__ import annotations

import math

import pytest

from spp.demo.corpus import write_demo_corpus
from spp.errors import SppConfigError
from spp.pretrain.arms import make_view
from spp.pretrain.audit import audit_stream, check_audit
from spp.pretrain.builder import build_run, midtraining_enrichment
from spp.pretrain.config import SPPDataArguments, SPPModelArguments, SPPTrainingArguments
from spp.pretrain.data import DocumentStream, PackedArm, load_corpus, split_and_order, tokenize_corpus
from spp.pretrain.documents import DOCUMENT
from spp.pretrain.packing import PackingStats
from spp.pretrain.tokenizer import load_tokenizer
from spp.pretrain.window_index import Enrichment

SEQ_LEN, BUDGET, MID = 256, 48, 60  # midtraining from window 60


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory):
    directory = write_demo_corpus(tmp_path_factory.mktemp("mid"), rows=1500, seed=2, reflection_rate=0.2)
    corpus, fmt = load_corpus(directory)
    tokenizer = load_tokenizer(str(directory / "tokenizer"), fmt, eos_token="<|endoftext|>")
    return tokenize_corpus(corpus, tokenizer, fmt, "1p"), tokenizer


def packed(tokenized, arm, layout, enrichment=None):
    data, tokenizer = tokenized
    train, _ = split_and_order(data, 0, seed=7, shuffle=True)
    return PackedArm(
        DocumentStream(train), make_view(arm, midtraining_start_tokens=MID * SEQ_LEN), seq_len=SEQ_LEN,
        reflection_budget=BUDGET, eos_id=tokenizer.eos_token_id, pad_id=tokenizer.pad_token_id, layout=layout,
        enrichment=enrichment,
    )  # fmt: skip


def fields(w):
    return w.index, w.input_ids, w.kinds, w.documents, w.reflections


def annotated_ids(tokenized):
    rows = tokenized[0].select_columns(["id", "pause", "end_pause"])
    return {r["id"] for r in rows if r["pause"] >= 0 or r["end_pause"] >= 0}


@pytest.mark.parametrize("layout", ["dense", "document"])
def test_the_enriched_stream_keeps_pretraining_and_raises_the_annotated_share_within_the_repeat_bound(
    tokenized, layout
):
    enrichment = Enrichment(MID, share=0.6, max_repeats=2, seed=1)
    base = list(packed(tokenized, "spp_t0", layout).windows())
    arm = packed(tokenized, "spp_t0_mt", layout, enrichment)
    stats = PackingStats()
    enriched = list(arm.windows(stats))
    assert [fields(w) for w in enriched[:MID]] == [fields(w) for w in base[:MID]]  # pretraining unchanged
    mid = arm.window_index().meta["midtraining"]
    assert mid["annotated"] == math.floor(0.6 * mid["documents"]) and mid["plain"] == mid["documents"] - mid["annotated"]
    annotated = annotated_ids(tokenized)
    reflected = lambda ws: sum(bool(w.reflections) for w in ws) / len(ws)  # noqa: E731
    assert reflected(enriched[MID:]) > 2 * reflected(base[MID:]) and reflected(enriched[MID:]) > 0.3
    # every document occurs at most 1 + max_repeats times, and the repeats are what spp.json will say
    own_windows = annotated if layout == "document" else set()
    starts = _document_starts(enriched, own_windows)
    assert stats.documents == len(starts) == arm.window_index().meta["documents"]
    counts = {d: starts.count(d) for d in set(starts)}
    assert max(counts.values()) <= 1 + 2 and sum(c - 1 for c in counts.values()) == mid["repeats"] > 0
    assert {d for d, c in counts.items() if c > 1} <= annotated  # only annotated documents repeat
    # the midtraining documents: the annotated ones at the share asked for (to within the window boundaries)
    after = starts[len(_document_starts(enriched[:MID], own_windows)) :]
    assert abs(sum(d in annotated for d in after) / len(after) - 0.6) < 0.03


def _document_starts(windows, own_windows: set[str]):
    """Document ids in the order documents start: a dense window's first document is not counted when it continues
    the previous dense window's last one (``own_windows``: the documents that get a window of their own)."""
    starts, last = [], None
    for w in windows:
        own = len(w.documents) == 1 and w.documents[0] in own_windows
        for i, d in enumerate(w.documents):
            if not (i == 0 and d == last and not own):
                starts.append(d)
        if not own:
            last = w.documents[-1]
    return starts


def test_arms_with_the_same_enrichment_are_data_matched(tokenized):
    enrichment = Enrichment(MID, share=0.5, max_repeats=1, seed=1)
    streams = {a: list(packed(tokenized, a, "document", enrichment).windows()) for a in ("baseline", "spp_t0_mt")}
    tokens = {a: [[t for t, k in zip(w.input_ids, w.kinds, strict=True) if k == DOCUMENT] for w in ws]
              for a, ws in streams.items()}  # fmt: skip
    assert tokens["baseline"] == tokens["spp_t0_mt"]
    assert not any(w.reflections for w in streams["baseline"])


def test_a_stream_whose_annotated_documents_run_out_stops_the_run_naming_the_repeat_bound(tokenized):
    arm = packed(tokenized, "spp_t0_mt", "document", Enrichment(MID, share=0.9, max_repeats=0, seed=1))
    audit = audit_stream(arm)
    assert audit.midtraining["ended_by"] == "annotated documents" and audit.midtraining["plain_unused"] > 0
    with pytest.raises(SppConfigError, match="runs out of annotated documents") as err:
        check_audit(audit, arm_name="spp_t0_mt", has_reflections=True, max_skipped_share=1.0,
                    windows_needed=audit.windows + 1, budget=BUDGET)  # fmt: skip
    assert err.value.field == "midtraining_max_repeats"


@pytest.mark.parametrize(
    ("arm", "data", "field"),
    [
        ("spp_t0_mt", {}, "midtraining_annotated_share"),
        ("spp_t0_mt", {"midtraining_annotated_share": 1.5}, "midtraining_annotated_share"),
        ("spp_t0_mt", {"midtraining_annotated_share": 0.6, "midtraining_max_repeats": -1}, "midtraining_max_repeats"),
        ("spp_t0_mt", {"midtraining_annotated_share": 0.6}, "token_cache_dir"),
    ],
)
def test_an_enrichment_the_recipe_cannot_give_is_a_config_error(arm, data, field):
    config = SPPDataArguments(arm=arm, **data)
    with pytest.raises(SppConfigError) as err:
        midtraining_enrichment(config, make_view(arm, midtraining_start_tokens=1024), seed=0)
    assert err.value.field == field


def test_an_enrichment_without_a_midtraining_phase_is_a_config_error():
    config = SPPDataArguments(arm="baseline", midtraining_annotated_share=0.5, token_cache_dir="cache")
    with pytest.raises(SppConfigError, match="no midtraining start"):
        midtraining_enrichment(config, make_view("baseline"), seed=0)
    assert midtraining_enrichment(SPPDataArguments(arm="spp_t0"), make_view("spp_t0"), seed=0) is None


def _configs(corpus_dir, tmp_path, name, **data):
    model = SPPModelArguments(tokenizer_name_or_path=f"{corpus_dir}/tokenizer", pad_vocab_to_multiple_of=8)
    data = SPPDataArguments(
        dataset_path=str(corpus_dir), seq_len=64, reflection_budget=24, token_cache_dir=str(tmp_path / "tokens"),
        **data,
    )  # fmt: skip
    args = SPPTrainingArguments(
        output_dir=str(tmp_path / name), max_steps=3, per_device_train_batch_size=2, global_batch_windows=4,
        use_cpu=True, report_to="none", disable_tqdm=True,
    )  # fmt: skip
    return model, data, args


def test_a_run_that_continues_a_stream_trains_the_windows_after_the_checkpoint(corpus_dir, tmp_path):
    """spp_mt continued from step 3 of a baseline run reads the baseline's stream from window 3 x 4 on, with its
    midtraining (reflections, enriched stream) from there; the data view records where it started."""
    baseline = build_run(*_configs(corpus_dir, tmp_path, "base", arm="baseline"))
    continued = build_run(
        *_configs(corpus_dir, tmp_path, "mt", arm="spp_mt", midtraining_start_tokens=12 * 64), start_step=3
    )
    assert continued.extra["view_fields"]["stream_start_window"] == 12
    assert baseline.extra["view_fields"]["stream_start_window"] == 0
    ahead = list(baseline.train_dataset.resume_at(12).windows())
    got = list(continued.train_dataset.windows())
    assert got and [w.index for w in got] == [w.index for w in ahead]
    same = lambda w: [t for t, k in zip(w.input_ids, w.kinds, strict=True) if k == DOCUMENT]  # noqa: E731
    assert [same(w) for w in got] == [same(w) for w in ahead]
    assert any(w.reflections for w in got)  # midtraining from its first window
    resumed = continued.train_dataset.resume_at(4)  # a resume of the continuation, 1 step in
    assert next(iter(resumed.windows())).index == 16
    with pytest.raises(SppConfigError, match="windows short"):
        build_run(*_configs(corpus_dir, tmp_path, "late", arm="baseline"), start_step=10_000)
