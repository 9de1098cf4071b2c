"""Arms as views of one corpus: document order, filtering, whole reflections at their pause, masks, sharding."""

from __future__ import annotations

import itertools

import pytest
import torch

from spp.persona.render import BlockFormat
from spp.pretrain.arms import make_view
from spp.pretrain.data import collate_windows, window_item
from spp.pretrain.documents import DOCUMENT, PAD, REFLECTION, SKIP_PAUSE_OUTSIDE

SEQ_LEN, BUDGET = 128, 48
ARMS = ["baseline", "spp_t0", "spp_mt", "spp_t0_end"]
MID = 20 * SEQ_LEN


def view(arm, **kwargs):
    kwargs.setdefault("midtraining_start_tokens", MID if arm in ("spp_mt", "spp_t0", "spp_t0_end") else None)
    return make_view(arm, **kwargs)


def doc_order(windows):
    return [k for k, _ in itertools.groupby(d for w in windows for d in w.documents)]


def content(window):
    return [t for t, k in zip(window.input_ids, window.kinds, strict=True) if k == DOCUMENT]


@pytest.fixture(scope="module")
def streams(make_arm, pack):
    return {arm: pack(make_arm(view(arm))) for arm in [*ARMS, "filtered"]}


def _pause_tokens(tokenizer, row):
    prefix = row["text"][: row["reflection_position"]]
    return len(tokenizer(prefix, add_special_tokens=False, split_special_tokens=True)["input_ids"])


def ok_rows(corpus):
    return {r["id"]: r for r in corpus[0] if r["reflection_status"] == "ok"}


def test_every_arm_has_the_same_documents_in_the_same_order_and_the_same_content_per_window(streams):
    base_windows, _ = streams["baseline"]
    assert len(doc_order(base_windows)) == 160
    for arm in ARMS[1:]:
        windows, _ = streams[arm]
        assert doc_order(windows) == doc_order(base_windows), arm
        assert [content(w) for w in windows] == [content(w) for w in base_windows], arm


def test_shuffle_order_is_reproducible_from_the_seed(make_arm, pack, streams):
    again, _ = pack(make_arm(view("baseline")))
    other, _ = pack(make_arm(view("baseline"), seed=1))
    assert doc_order(again) == doc_order(streams["baseline"][0])
    assert doc_order(other) != doc_order(again)
    assert sorted(doc_order(other)) == sorted(doc_order(again))


def test_filtered_drops_exactly_the_rows_at_or_over_the_threshold(corpus, streams):
    over = {r["id"] for r in corpus[0] if r["harm_score"] >= 3.0}
    assert 0 < len(over) < 160
    windows, stats = streams["filtered"]
    assert stats.dropped == {"harm_score >= 3": len(over)}
    assert doc_order(windows) == [d for d in doc_order(streams["baseline"][0]) if d not in over]


def test_spp_t0_holds_every_ok_reflection_whole_after_the_marker_at_its_pause(corpus, tokenizer, streams):
    fmt: BlockFormat = corpus[1]
    rows = ok_rows(corpus)
    windows, stats = streams["spp_t0"]
    # the fixture's pauses were drawn in characters, as an augment run without the training tokenizer does: the
    # few past the window's document tokens are skipped, counted by reason, never silently
    outside = {i for i, r in rows.items() if _pause_tokens(tokenizer, r) > SEQ_LEN - BUDGET - 1}
    assert stats.reflections == len(rows) - len(outside) > 10
    assert dict(stats.skipped_reflections) == ({SKIP_PAUSE_OUTSIDE: len(outside)} if outside else {})
    rows = {i: r for i, r in rows.items() if i not in outside}
    marker, end = tokenizer.convert_tokens_to_ids([fmt.marker, fmt.end_marker])
    seen = {}
    for w in windows:
        runs = [(k, len(list(g))) for k, g in itertools.groupby(w.kinds)]
        starts = [i for i, t in enumerate(w.input_ids) if t == marker]
        assert [k for k, _ in runs].count(REFLECTION) == len(starts) == len(w.reflections)
        for doc_id, start in zip(w.reflections, starts, strict=True):
            stop = w.input_ids.index(end, start) + 1
            assert set(w.kinds[start:stop]) == {REFLECTION} and w.kinds[stop] != REFLECTION
            seen[doc_id] = tokenizer.decode(w.input_ids[start:stop])
            prefix = rows[doc_id]["text"][: rows[doc_id]["reflection_position"]]
            before = tokenizer.decode(w.input_ids[max(0, start - 3) : start]).split(tokenizer.eos_token)[-1]
            assert prefix.endswith(before) and (before or not prefix)
    assert seen == {i: fmt.render(r["reflection_1p"]) for i, r in rows.items()}


def test_spp_mt_has_no_reflection_before_its_start_and_all_after(streams):
    t0 = {w.index: w.reflections for w in streams["spp_t0"][0]}
    for w in streams["spp_mt"][0]:
        assert w.reflections == ([] if w.index * SEQ_LEN < MID else t0[w.index])
    after = [d for i, r in t0.items() if i * SEQ_LEN >= MID for d in r]
    before = [d for i, r in t0.items() if i * SEQ_LEN < MID for d in r]
    assert before and after
    assert streams["spp_t0"][1].reflections == len(before) + len(after)  # spp_t0: every phase


def test_end_placement_puts_the_block_at_the_end_of_the_document_part_its_generator_read(corpus, tokenizer, streams):
    rows = {r["id"]: r for r in corpus[0] if r["end_reflection_status"] == "ok"}
    end_id = tokenizer.convert_tokens_to_ids("<|end_reflection|>")
    marker_id = tokenizer.convert_tokens_to_ids("<|reflection|>")
    checked = 0
    for w in streams["spp_t0_end"][0]:
        starts = [i for i, t in enumerate(w.input_ids) if t == marker_id]
        for doc_id, start in zip(w.reflections, starts, strict=True):
            row = rows[doc_id]
            after = w.input_ids[w.input_ids.index(end_id, start) + 1]
            whole = row["end_reflection_position"] == len(row["text"])
            assert (after == tokenizer.eos_token_id) == whole  # the whole document read: the block ends it
            before = tokenizer.decode(w.input_ids[max(0, start - 3) : start]).split(tokenizer.eos_token)[-1]
            assert row["text"][: row["end_reflection_position"]].endswith(before) and before
            checked += 1
    assert checked > 10
    stats = streams["spp_t0_end"][1]
    end_ok = [r for r in corpus[0] if r["end_reflection_status"] == "ok"]
    assert stats.reflections + stats.skipped == stats.offered == len(end_ok) > 10
    # the fixture's end positions are the documents' ends; those longer than a window's document tokens are counted
    assert set(stats.skipped_reflections) <= {SKIP_PAUSE_OUTSIDE}


def test_windows_are_full_unless_an_annotated_document_opens_the_next_and_pads_carry_no_loss(corpus, streams):
    windows, _ = streams["spp_t0"]
    annotated = {r["id"] for r in corpus[0] if "ok" in (r["reflection_status"], r["end_reflection_status"])}
    short = 0
    for w, following in zip(windows[:-1], windows[1:], strict=True):
        assert len(w.input_ids) == len(w.kinds) == SEQ_LEN + 1
        assert w.kinds.count(DOCUMENT) <= SEQ_LEN - BUDGET
        if w.kinds.count(DOCUMENT) < SEQ_LEN - BUDGET:  # closed early: the next window starts an annotated document
            short += 1
            assert following.documents[0] in annotated and following.documents[0] not in w.documents
        assert w.kinds[-1] == PAD
    assert 0 < short < len(windows) // 2
    batch = collate_windows([window_item(w) for w in windows])
    kinds = torch.tensor([w.kinds for w in windows])
    assert batch["input_ids"].shape == (len(windows), SEQ_LEN)
    assert torch.equal(batch["shift_labels"] == -100, kinds[:, 1:] == PAD)
    assert torch.equal(batch["labels"] == -100, kinds[:, :-1] == PAD)
    real = batch["shift_labels"] != -100
    assert torch.equal(batch["shift_labels"][real], torch.tensor([w.input_ids[1:] for w in windows])[real])


def test_a_block_over_the_budget_is_skipped_and_counted_never_split(corpus, make_arm, pack):
    windows, stats = pack(make_arm(view("spp_t0"), budget=12))
    assert stats.skipped_reflections and sum(stats.skipped_reflections.values()) + stats.reflections == len(
        ok_rows(corpus)
    )
    for w in windows:
        assert w.kinds.count(REFLECTION) <= 12


def test_ranks_get_disjoint_windows_whose_union_is_the_stream(make_arm, streams):
    arm = make_arm(view("spp_t0"))
    whole = [window_item(w)["input_ids"] for w in streams["spp_t0"][0]]
    shards = [list(arm.shard(r, 2)) for r in range(2)]
    assert [len(s) for s in shards] == [(len(whole) + 1) // 2, len(whole) // 2]
    for k, ids in enumerate(whole):
        assert torch.equal(shards[k % 2][k // 2]["input_ids"], ids)


def test_dataloader_workers_keep_the_rank_order(make_arm):
    shard = make_arm(view("spp_t0")).shard(1, 2, batch_size=2)
    serial = torch.cat([b["input_ids"] for b in torch.utils.data.DataLoader(shard, batch_size=2)])
    loader = torch.utils.data.DataLoader(shard, batch_size=2, num_workers=2, collate_fn=collate_windows)
    assert torch.equal(torch.cat([b["input_ids"] for b in loader]), serial)


def _tokenized_arm(arm, corpus, tokenizer, **kwargs):
    """``arm`` over the corpus pre-tokenized on disk (as the token cache gives it): a seekable stream."""
    from spp.pretrain.data import DocumentStream, tokenize_corpus

    tokenized = tokenize_corpus(corpus[0], tokenizer, corpus[1], "1p")
    return arm.__class__(
        DocumentStream(tokenized.shuffle(seed=0), batch_size=32),
        arm.view,
        seq_len=arm.seq_len,
        reflection_budget=arm.reflection_budget,
        eos_id=arm.eos_id,
        pad_id=arm.pad_id,
        layout=arm.layout.layout,
    )


def same_windows(a, b):
    return [(w.index, w.input_ids, w.kinds, w.documents, w.reflections) for w in a] == [
        (w.index, w.input_ids, w.kinds, w.documents, w.reflections) for w in b
    ]


@pytest.mark.parametrize("layout", ["dense", "document"])
@pytest.mark.parametrize("arm", [*ARMS, "filtered"])
def test_a_resumed_stream_seeks_to_its_window_and_equals_the_uninterrupted_one(
    arm, layout, corpus, tokenizer, make_arm, caplog
):
    streamed = make_arm(view(arm), layout=layout)  # tokenized on the fly: resumes by packing and discarding
    seekable = _tokenized_arm(streamed, corpus, tokenizer)
    assert seekable.documents.seekable and not streamed.documents.seekable
    full = list(seekable.windows())
    assert same_windows(full, streamed.windows())  # the same stream either way
    # every start, so starts inside a document, at a document's end and around reflections are all covered
    for start in range(1, len(full) + 2):
        with caplog.at_level("INFO", logger="spp.pretrain"):
            caplog.clear()
            resumed = list(seekable.resume_at(start).windows())
        assert same_windows(resumed, full[start:]), (arm, start)
        if start < len(full):
            assert f"stream resumes at window {start}: looked up in the window index" in caplog.text
    assert same_windows(streamed.resume_at(7).windows(), full[7:])


def test_resumed_workers_and_ranks_keep_the_batch_order(corpus, tokenizer, make_arm, monkeypatch):
    """With dataloader workers, a resumed stream's first batch comes from worker 0, as the DataLoader reads it."""
    arm = _tokenized_arm(make_arm(view("spp_t0")), corpus, tokenizer)
    full = list(arm.windows())
    start = 6  # a multiple of world_size x batch_size, as a resume step always is
    world, batch, workers = 2, 3, 2
    for rank in range(world):
        per_worker = []
        for worker in range(workers):
            info = type("Info", (), {"num_workers": workers, "id": worker})
            monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda info=info: info)
            per_worker.append([w.index for w in arm.resume_at(start).shard(rank, world, batch).local_windows()])
        expected = [w.index for w in full[start:] if w.index % world == rank]
        local_batches = [expected[i : i + batch] for i in range(0, len(expected), batch)]
        assert per_worker[0][:batch] == local_batches[0]  # worker 0 holds the rank's first resumed batch
        assert sorted(per_worker[0] + per_worker[1]) == expected


@pytest.mark.parametrize("with_counts", [True, False], ids=["n_tokens", "doc_ids-lengths"])
def test_stream_tokens_follow_the_row_order_and_the_arms_filter(with_counts):
    from datasets import Dataset

    from spp.pretrain.data import DocumentStream

    ids = [[1] * n for n in (3, 5, 2, 7, 4)]
    scores = [None, 4.0, 1.0, 3.0, None]  # unscored rows are kept by every arm
    columns = {"id": list("abcde"), "doc_ids": ids, "pause": [-1] * 5, "block_ids": [[]] * 5, "harm_score": scores}
    if with_counts:
        columns["n_tokens"] = [len(x) for x in ids]
    data = Dataset.from_dict(columns).shuffle(seed=1).select([4, 0, 3, 1, 2])
    order = [data[i]["id"] for i in range(5)]
    expected = {"baseline": {c: len(i) + 1 for c, i in zip("abcde", ids, strict=True)}}
    expected["filtered"] = {**expected["baseline"], "b": 0, "d": 0}  # harm >= 3.0
    for arm in ("baseline", "filtered"):
        got = DocumentStream(data).stream_tokens(make_view(arm)).tolist()
        assert got == [expected[arm][c] for c in order], arm
