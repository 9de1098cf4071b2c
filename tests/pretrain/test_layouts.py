"""Both window layouts over a few thousand documents: every reflection arm sees the same document tokens in every
window, spp_t0 carries reflections from the first step to the last, spp_mt only from its start, and every
reflection sits in the window that holds its document's prefix."""

from __future__ import annotations

import pytest

from spp.pretrain.arms import make_view
from spp.pretrain.data import DocumentStream, PackedArm, load_corpus, tokenize_corpus
from spp.pretrain.demo import write_demo_corpus
from spp.pretrain.packing import DOCUMENT, PackingStats
from spp.pretrain.tokenizer import load_tokenizer

SEQ_LEN, BUDGET, WINDOWS_PER_STEP = 256, 48, 4
ARMS = ("baseline", "spp_t0", "spp_mt", "spp_t0_end")


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory):
    directory = write_demo_corpus(tmp_path_factory.mktemp("big"), rows=3000, seed=5, reflection_rate=0.2)
    corpus, fmt = load_corpus(directory)
    tokenizer = load_tokenizer(str(directory / "tokenizer"), fmt, eos_token="<|endoftext|>")
    return tokenize_corpus(corpus, tokenizer, fmt, "1p"), tokenizer


def _stream(tokenized, arm, layout, mid):
    data, tokenizer = tokenized
    view = make_view(arm, midtraining_start_tokens=mid)
    packed = PackedArm(
        DocumentStream(data, batch_size=256),
        view,
        seq_len=SEQ_LEN,
        reflection_budget=BUDGET,
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id,
        layout=layout,
    )
    stats = PackingStats()
    return list(packed.windows(stats)), stats, packed


def _document_tokens(window):
    return [t for t, k in zip(window.input_ids, window.kinds, strict=True) if k == DOCUMENT]


@pytest.mark.parametrize("layout", ["dense", "document"])
def test_reflection_arms_are_data_matched_and_spp_t0_reflects_from_the_first_step_to_the_last(tokenized, layout):
    probe, _, packed = _stream(tokenized, "baseline", layout, None)
    steps = len(probe) // WINDOWS_PER_STEP
    mid_step = steps * 9 // 10  # the LR decay: the last 10% of the steps
    mid = mid_step * WINDOWS_PER_STEP * SEQ_LEN
    streams = {arm: _stream(tokenized, arm, layout, mid) for arm in ARMS}
    base = [_document_tokens(w) for w in streams["baseline"][0]]
    assert len(base) == packed.count_windows() > 100  # the seek's count agrees with the packer
    for arm in ARMS[1:]:
        assert [_document_tokens(w) for w in streams[arm][0]] == base, arm
    t0_windows, t0_stats, _ = streams["spp_t0"]
    by_step = lambda ws, s: [d for w in ws[s * WINDOWS_PER_STEP : (s + 1) * WINDOWS_PER_STEP] for d in w.reflections]  # noqa: E731
    assert by_step(t0_windows, 0) and by_step(t0_windows, steps - 1)
    assert t0_stats.skipped == 0 and t0_stats.reflections == t0_stats.offered > 50
    mt_windows, mt_stats, _ = streams["spp_mt"]
    for w_mt, w_t0 in zip(mt_windows, t0_windows, strict=True):
        expected = w_t0.reflections if w_t0.index * SEQ_LEN >= mid else []
        assert w_mt.reflections == expected
    assert mt_stats.reflections > 0 and mt_stats.scheduled_off > 0
    for arm in ("spp_t0", "spp_t0_end"):
        windows = streams[arm][0]
        first_window = {}
        for w in windows:
            for d in w.documents:
                first_window.setdefault(d, w.index)
        for w in windows:
            assert len(w.input_ids) == SEQ_LEN + 1
            for d in w.reflections:  # the document started in this window: its whole prefix is here
                assert first_window[d] == w.index, (arm, d)


def test_the_document_layout_gives_each_annotated_document_its_own_truncated_window(tokenized):
    windows, stats, _ = _stream(tokenized, "spp_t0", "document", None)
    data, _ = tokenized
    annotated = {
        r["id"] for r in data.select_columns(["id", "pause", "end_pause"]) if r["pause"] >= 0 or r["end_pause"] >= 0
    }
    for w in windows:
        if set(w.documents) & annotated:
            assert len(w.documents) == 1
            assert len(_document_tokens(w)) <= SEQ_LEN - BUDGET
    assert stats.truncated_tokens >= 0 and stats.skipped == 0
