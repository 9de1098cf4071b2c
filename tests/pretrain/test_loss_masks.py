"""``loss_on`` masks exactly the tokens it names, position by position, on a window built by hand; both packers (the
window index and the streaming packer) give the same labels."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset

from spp.pretrain.arms import make_view
from spp.pretrain.data import DocumentStream, PackedArm
from spp.pretrain.documents import DOCUMENT, PAD, REFLECTION
from spp.pretrain.items import window_item

EOS, PAD_ID = 0, 99
D, R, P = DOCUMENT, REFLECTION, PAD
# A: plain, harmless; B: harm 4 with a block at pause 2; C: harm 3.0 (= threshold), no block
ROWS = {
    "id": ["A", "B", "C"],
    "doc_ids": [[10, 11, 12], [20, 21, 22, 23], [40, 41]],
    "n_tokens": [3, 4, 2],
    "harm_score": [1.0, 4.0, 3.0],
    "pause": [-1, 2, -1],
    "block_ids": [[], [5, 30, 31, 6], []],
    "end_pause": [-1, -1, -1],
    "end_block_ids": [[], [], []],
}
# seq_len 16, budget 6: 10 document tokens per window. Window 0 by hand: A + EOS, B's first 2 tokens, B's block,
# the rest of B + EOS, the first token of C; then 3 pads.
WINDOW_0 = [10, 11, 12, EOS, 20, 21, 5, 30, 31, 6, 22, 23, EOS, 40, PAD_ID, PAD_ID, PAD_ID]
KINDS_0 = [D, D, D, D, D, D, R, R, R, R, D, D, D, D, P, P, P]
X = -100
LABELS_0 = {
    "all": [10, 11, 12, EOS, 20, 21, 5, 30, 31, 6, 22, 23, EOS, 40, X, X, X],
    "reflection": [X, X, X, X, X, X, 5, 30, 31, 6, X, X, X, X, X, X, X],
    "no_harmful_context": [10, 11, 12, EOS, X, X, 5, 30, 31, 6, X, X, X, X, X, X, X],
}


def arm(loss_on: str, indexed: bool):
    data = Dataset.from_dict(ROWS)
    documents = DocumentStream(data) if indexed else DocumentStream(data, lambda batch: batch)
    return PackedArm(
        documents, make_view("spp_t0", loss_on=loss_on), seq_len=16, reflection_budget=6, eos_id=EOS, pad_id=PAD_ID
    )


@pytest.mark.parametrize("indexed", [True, False], ids=["window-index", "streaming"])
@pytest.mark.parametrize("loss_on", list(LABELS_0))
def test_loss_on_masks_exactly_the_named_tokens(loss_on, indexed):
    packed = arm(loss_on, indexed)
    assert packed.indexed == indexed
    windows = list(packed.windows())
    assert windows[0].input_ids == WINDOW_0 and windows[0].kinds == KINDS_0
    assert windows[0].harmful_spans == [(4, 6), (10, 13), (13, 14)]  # B around its block; C's first token
    items = list(packed)
    labels = LABELS_0[loss_on]
    assert items[0]["input_ids"].tolist() == WINDOW_0[:-1]
    assert items[0]["labels"].tolist() == labels[:-1]
    assert items[0]["shift_labels"].tolist() == labels[1:]
    # window 1: the rest of C (harmful: its EOS too) then padding
    assert windows[1].input_ids[:2] == [41, EOS] and windows[1].harmful_spans == [(0, 2)]
    second = items[1]["labels"].tolist()
    assert second[:2] == ([X, X] if loss_on in ("reflection", "no_harmful_context") else [41, EOS])
    assert set(second[2:]) == {X}
    for item, window in zip(items, windows, strict=True):
        want = window_item(window, loss_on)
        assert all(torch.equal(item[k], want[k]) for k in want)


def test_an_unknown_loss_on_is_a_config_error():
    from spp.errors import SppConfigError

    with pytest.raises(SppConfigError, match="loss_on"):
        make_view("spp_t0", loss_on="documents")
