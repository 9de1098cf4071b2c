"""Selection is a pure function of (seed, id) and the row: the same set whatever the shard count."""

from __future__ import annotations

import math

import pytest

from spp.data.selection import SelectionConfig, canary_index, is_selected, stratified_rest_probability
from spp.data.shard_run import _batches
from spp.errors import SppConfigError

N = 100_000


class _Rows(list):
    """A list that slices into column dicts, like ``Dataset.__getitem__``."""

    def __getitem__(self, key):
        rows = list.__getitem__(self, key)
        return {"id": [r[0] for r in rows], "text": [r[1] for r in rows]}


def _selected_by_shards(rows, config, num_shards: int, chunk_size: int = 1000) -> list[str]:
    """Union, in corpus order, of what each shard selects from the chunks it owns (the job's own chunk walk)."""
    picked: dict[int, list[str]] = {}
    for shard in range(num_shards):
        for index, _, batch in _batches(rows, chunk_size, lambda c, s=shard: c % num_shards == s):
            if batch is not None:
                picked[index] = [
                    i for i, t in zip(batch["id"], batch["text"], strict=True) if is_selected(config, i, t)
                ]
    return [doc_id for index in sorted(picked) for doc_id in picked[index]]


def test_selected_set_is_identical_with_1_3_and_7_shards_and_close_to_the_fraction():
    rows = _Rows((f"doc-{i}", f"text of document {i}") for i in range(N))
    config = SelectionConfig(selection_fraction=0.10, selection_seed=0)
    one, three, seven = (_selected_by_shards(rows, config, n) for n in (1, 3, 7))
    assert one == three == seven
    assert len(set(one)) == len(one)
    share = len(one) / N
    assert abs(share - 0.10) <= 0.01 * 0.10 * 4  # within 4 binomial standard deviations (~0.38% relative)
    assert abs(share - 0.10) < 0.01  # within 1 percentage point


def test_selection_depends_on_seed_and_id_not_on_position():
    config = SelectionConfig(selection_fraction=0.5, selection_seed=3)
    ids = [f"d{i}" for i in range(200)]
    forward = [is_selected(config, i, "text") for i in ids]
    backward = [is_selected(config, i, "text") for i in reversed(ids)]
    assert forward == backward[::-1]
    other_seed = SelectionConfig(selection_fraction=0.5, selection_seed=4)
    assert forward != [is_selected(other_seed, i, "text") for i in ids]


@pytest.mark.parametrize("text", ["", "   \n\t", None])
def test_blank_documents_are_never_selected(text):
    assert not is_selected(SelectionConfig(selection="all"), "x", text)


def test_stratified_takes_every_harmful_document_and_an_equal_character_mass_of_the_rest():
    texts = [("x " * 50).strip() for _ in range(20_000)]
    scores = [5.0 if i % 20 == 0 else 0.0 for i in range(20_000)]  # 5% harmful, same length
    p = stratified_rest_probability(texts, scores, threshold=3.0)
    assert p == pytest.approx(1000 / 19000)
    config = SelectionConfig(selection="stratified", rest_probability=p, harm_threshold=3.0)
    chosen = [is_selected(config, f"d{i}", t, s) for i, (t, s) in enumerate(zip(texts, scores, strict=True))]
    harmful = sum(c for c, s in zip(chosen, scores, strict=True) if s >= 3)
    rest = sum(c for c, s in zip(chosen, scores, strict=True) if s < 3)
    assert harmful == 1000
    assert abs(rest - 1000) < 4 * math.sqrt(19000 * p * (1 - p))


def test_stratified_without_scores_or_rest_probability_is_a_config_error():
    with pytest.raises(SppConfigError, match="harm score"):
        is_selected(SelectionConfig(selection="stratified", rest_probability=0.1), "d", "text", None)
    with pytest.raises(SppConfigError, match="rest_probability"):
        is_selected(SelectionConfig(selection="stratified"), "d", "text", 0.0)


def test_unknown_rule_and_bad_fraction_are_rejected():
    with pytest.raises(SppConfigError, match="unknown selection rule"):
        SelectionConfig(selection="random")
    with pytest.raises(SppConfigError, match="between 0 and 1"):
        SelectionConfig(selection_fraction=1.5)


def test_canary_draw_is_seeded_per_document_and_hits_the_fraction():
    config = SelectionConfig(canary_fraction=0.1)
    draws = [canary_index(config, f"d{i}", 3) for i in range(20_000)]
    assert draws == [canary_index(config, f"d{i}", 3) for i in range(20_000)]
    planted = [d for d in draws if d is not None]
    assert abs(len(planted) / 20_000 - 0.1) < 0.01
    assert set(planted) == {0, 1, 2}
    assert canary_index(config, "d1", 0) is None
