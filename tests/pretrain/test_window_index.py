"""The window index gives exactly the streaming packer's windows, for every arm, layout, order and plain fill, over
3,000 documents; a rank reads only its own windows; a resume is a lookup; the index is built once and shared.

The oracle is the streaming packer (``pack_windows``), which stays in the library as the path of corpora that
cannot be indexed (streamed or tokenized on the fly): the same pre-tokenized rows are read once through the index
and once through a ``DocumentStream`` that hides its seekability, so only the two packers differ. (Its reserve-fill
windows are those of the packer before the index: the 20 reserve cases here, run once against 57e2c06's packer,
gave the same 32,393 windows and counts.)
"""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest
import torch

from spp.demo.corpus import write_demo_corpus
from spp.pretrain.arms import make_view
from spp.pretrain.data import DocumentStream, PackedArm, load_corpus, split_and_order, tokenize_corpus
from spp.pretrain.documents import SKIP_OVER_BUDGET, SKIP_PAUSE_OUTSIDE
from spp.pretrain.items import window_item
from spp.pretrain.packing import PackingStats
from spp.pretrain.tokenizer import load_tokenizer
from spp.pretrain.window_index import META_FILE, WindowIndex

SEQ_LEN, BUDGET = 256, 40
ARMS = ("baseline", "filtered", "spp_t0", "spp_mt", "spp_t0_end")


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory):
    directory = write_demo_corpus(tmp_path_factory.mktemp("index"), rows=3000, seed=11, reflection_rate=0.25)
    corpus, fmt = load_corpus(directory)
    tokenizer = load_tokenizer(str(directory / "tokenizer"), fmt, eos_token="<|endoftext|>")
    data = tokenize_corpus(corpus, tokenizer, fmt, "1p")
    return data.map(_stretch, with_indices=True, features=data.features), tokenizer


def _stretch(row, i):
    """Edge cases the demo corpus lacks: documents longer than a window (split, truncated), blocks over the budget,
    pauses past the tokens a window holds."""
    if i % 7 == 0:
        row["doc_ids"] = (row["doc_ids"] * (1 + i % 13))[:900]
        row["n_tokens"] = len(row["doc_ids"])
    for prefix in ("", "end_"):
        if row[f"{prefix}pause"] < 0:
            continue
        if i % 5 == 1:
            row[f"{prefix}block_ids"] = row[f"{prefix}block_ids"] * 3  # 54-57 tokens > BUDGET
        if i % 7 == 0 and i % 2 == 0 and row["n_tokens"] > 300:
            row[f"{prefix}pause"] = 250  # > max_document_tokens (215)
    return row


def arm_view(arm: str):
    # spp_t0 ramps in over 30 windows (per-document seeded draws), spp_mt starts at window 40
    return make_view(
        arm,
        midtraining_start_tokens=40 * SEQ_LEN if arm != "baseline" else None,
        ramp_tokens=30 * SEQ_LEN if arm == "spp_t0" else 0,
    )


def packed(tokenized, arm, *, layout="dense", shuffle=True, plain_fill="reserve", indexed=True, **kwargs):
    data, tokenizer = tokenized
    train, _ = split_and_order(data, 100, seed=4, shuffle=shuffle)
    documents = DocumentStream(train, batch_size=128) if indexed else DocumentStream(train, lambda b: b, 128)
    view = kwargs.pop("view", None) or arm_view(arm)
    return PackedArm(
        documents, view, seq_len=SEQ_LEN, reflection_budget=BUDGET, eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id, layout=layout, plain_fill=plain_fill, **kwargs,
    )  # fmt: skip


def fields(window):
    return (
        window.index, window.input_ids, window.kinds, window.documents, window.reflections, window.skipped,
        window.harmful_spans,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("shuffle", "plain_fill"), [(True, "reserve"), (False, "reserve"), (True, "full")],
    ids=["shuffled", "stored", "shuffled-full"],
)  # fmt: skip
@pytest.mark.parametrize("layout", ["dense", "document"])
@pytest.mark.parametrize("arm", ARMS)
def test_indexed_windows_are_byte_identical_to_the_streaming_packer(tokenized, arm, layout, shuffle, plain_fill):
    indexed = packed(tokenized, arm, layout=layout, shuffle=shuffle, plain_fill=plain_fill)
    streamed = packed(tokenized, arm, layout=layout, shuffle=shuffle, plain_fill=plain_fill, indexed=False)
    assert indexed.indexed and not streamed.indexed
    stats_i, stats_s = PackingStats(), PackingStats()
    windows = list(indexed.windows(stats_i))
    reference = list(streamed.windows(stats_s))
    assert len(windows) == len(reference) == indexed.count_windows() > 150
    for got, want in zip(windows, reference, strict=True):
        assert fields(got) == fields(want), (arm, layout, shuffle, plain_fill, want.index)
    assert stats_i.to_dict() == stats_s.to_dict()
    # the stream exercises what it should: blocks inserted, skipped for a reason, scheduled off, rows dropped
    if arm in ("spp_t0", "spp_mt", "spp_t0_end"):
        assert stats_s.reflections > 50 and set(stats_s.skipped_reflections) == {SKIP_OVER_BUDGET, SKIP_PAUSE_OUTSIDE}
    if layout == "document":
        assert stats_s.truncated_tokens > 0
    if arm in ("spp_t0", "spp_mt"):
        assert stats_s.scheduled_off > 0
    if arm == "filtered":
        assert sum(stats_s.dropped.values()) > 300
    # tensors straight from the index equal those of the packer's windows
    items = list(indexed)
    assert len(items) == len(reference)
    for item, window in zip(items, reference, strict=True):
        want = window_item(window)
        assert all(torch.equal(item[key], want[key]) for key in want)


@pytest.mark.parametrize("layout", ["dense", "document"])
def test_plain_windows_of_full_fill_have_no_padding_and_arms_stay_data_matched(tokenized, layout):
    """``full``: a window in which no annotated document starts holds seq_len + 1 document tokens. The only other
    padding in it: in the dense layout, when the next document is annotated and does not fit (it opens the next
    window, so its reflection sits beside its prefix); the last window."""
    streams = {arm: list(packed(tokenized, arm, layout=layout, plain_fill="full").windows()) for arm in ARMS}
    base, annotated = streams["baseline"], _annotated_ids(tokenized)
    plain = [w for w in base if not _starts_annotated(w, annotated, base)]
    closed = {w.index - 1 for w in base if w.documents[0] in annotated and _starts_annotated(w, annotated, base)}
    checked = [w for w in plain if w.index != len(base) - 1 and (layout == "document" or w.index not in closed)]
    assert len(checked) > 100
    assert [w.index for w in checked if w.kinds.count(0)] == []
    assert all(len(_document_tokens(w)) == SEQ_LEN + 1 for w in checked)
    if layout == "dense":
        assert [w for w in plain if w.index in closed and w.kinds.count(0)]  # the one kind of padding left
    reserve = list(packed(tokenized, "baseline", layout=layout).windows())
    assert len(base) < len(reserve)  # the same documents in fewer windows
    assert sum(len(_document_tokens(w)) for w in base) == sum(len(_document_tokens(w)) for w in reserve)
    for arm in ("spp_t0", "spp_mt", "spp_t0_end"):  # data-matched: the same document tokens in every window
        assert [_document_tokens(w) for w in streams[arm]] == [_document_tokens(w) for w in base], arm
        assert sum(len(w.reflections) for w in streams[arm]) > 50


def _document_tokens(window):
    return [t for t, k in zip(window.input_ids, window.kinds, strict=True) if k == 1]


def _annotated_ids(tokenized):
    data, _ = tokenized
    rows = data.select_columns(["id", "pause", "end_pause"])
    return {r["id"] for r in rows if r["pause"] >= 0 or r["end_pause"] >= 0}


def _starts_annotated(window, annotated, stream):
    """Whether an annotated document starts in ``window`` (its first document started before when it continues the
    previous window's last one)."""
    previous = stream[window.index - 1].documents if window.index else []
    starting = [d for d in window.documents if d not in previous[-1:]]
    return any(d in annotated for d in starting)


def test_a_rank_reads_only_its_own_windows_and_the_union_is_the_stream(tokenized, monkeypatch):
    arm = packed(tokenized, "spp_t0", layout="document")
    whole = [w.input_ids for w in arm.windows()]
    built = []
    original = type(arm._windows())._parts
    monkeypatch.setattr(type(arm._windows()), "_parts", lambda self, k, harm: built.append(k) or original(self, k, harm))
    world = 8
    shards = [list(arm.shard(rank, world)) for rank in range(world)]
    assert sorted(built) == list(range(len(whole)))  # each window assembled once, by its own rank
    for k, ids in enumerate(whole):
        assert shards[k % world][k // world]["input_ids"].tolist() == ids[:-1]


def test_a_resume_is_a_lookup_and_continues_the_stream_exactly(tokenized, caplog):
    arm = packed(tokenized, "spp_mt", layout="dense")
    whole = [fields(w) for w in arm.windows()]
    for start in (1, 37, len(whole) // 2, len(whole) - 1, len(whole), len(whole) + 3):
        with caplog.at_level("INFO", logger="spp.pretrain"):
            caplog.clear()
            resumed = [fields(w) for w in arm.resume_at(start).windows()]
        assert resumed == whole[start:], start
        assert "packing the windows before it" not in caplog.text
    world, batch = 4, 2
    for rank in range(world):
        got = [k for k in arm.resume_at(12).shard(rank, world, batch).local_indices()]
        assert got == [k for k in range(12, len(whole)) if k % world == rank]


def _build_in_process(args):
    """Build (or load) the index in a fresh process; with ``start_at``, every caller starts its build at that time
    and the build takes a second longer, so builders without the lock would overlap."""
    import os
    import time

    import datasets

    directory, tokenized_path, layout, *start_at = args
    if start_at:
        build = WindowIndex.build.__func__
        WindowIndex.build = classmethod(lambda cls, *a, **k: (time.sleep(1.0), build(cls, *a, **k))[1])
        time.sleep(max(0.0, start_at[0] - time.time()))
    data = datasets.load_from_disk(tokenized_path)
    train, _ = split_and_order(data, 100, seed=4, shuffle=True)
    arm = PackedArm(
        DocumentStream(train), make_view("spp_t0"), seq_len=SEQ_LEN, reflection_budget=BUDGET, eos_id=0, pad_id=0,
        layout=layout, index_dir=directory,
    )  # fmt: skip
    index = arm.window_index()
    return index.meta["built_by"].endswith(f":{os.getpid()}"), index.directory.name, len(index)


def test_the_index_is_built_once_under_a_lock_and_shared_by_every_process(tokenized, tmp_path):
    data, _ = tokenized
    data.save_to_disk(str(tmp_path / "cache"))
    import time

    jobs = [(str(tmp_path / "index"), str(tmp_path / "cache"), "document", time.time() + 15)] * 2
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(_build_in_process, jobs)
    assert sum(built for built, _, _ in results) == 1  # one process built it, the others waited and loaded it
    assert len({r[1:] for r in results}) == 1  # one folder, one window count
    folders = [p for p in (tmp_path / "index").iterdir() if p.is_dir()]
    assert len(folders) == 1 and (folders[0] / META_FILE).is_file()
    index = WindowIndex.load(folders[0])
    assert isinstance(index.windows, np.memmap) and index.meta["windows"] == len(index) == results[0][2]
    assert index.windows.itemsize <= 16
    again = _build_in_process(jobs[0][:3])
    assert not again[0] and again[1] == results[0][1]  # reused
    other = _build_in_process((*jobs[0][:2], "dense"))
    assert other[0] and other[1] != results[0][1]  # another layout: another index


def test_dataloader_workers_keep_the_rank_order_and_a_pickled_arm_reopens_the_shared_index(tokenized, tmp_path):
    """Workers started by fork share the index; those started by spawn get a pickled arm, which must reopen the
    memory maps by path (not carry copies of them) and give the same items."""
    import pickle

    from torch.utils.data import DataLoader

    from spp.pretrain.data import collate_windows

    arm = packed(tokenized, "spp_t0", layout="document", index_dir=tmp_path / "index")
    shard = arm.shard(1, 2, batch_size=2)
    serial = torch.cat([b["input_ids"] for b in DataLoader(shard, batch_size=2, collate_fn=collate_windows)])
    loader = DataLoader(shard, batch_size=2, num_workers=2, collate_fn=collate_windows)
    assert torch.equal(torch.cat([b["input_ids"] for b in loader]), serial)
    assert len(serial) == len(range(1, len(arm.window_index()), 2))
    payload = pickle.dumps(shard)
    assert len(payload) < arm.window_index().nbytes  # the index travels as its folder, not its arrays
    copy = pickle.loads(payload)
    assert isinstance(copy.window_index().windows, np.memmap)
    assert torch.equal(torch.stack([item["input_ids"] for item in copy]), serial)
