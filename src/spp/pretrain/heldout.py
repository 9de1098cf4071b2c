"""The held-out windows: the corpus's first ``heldout_documents`` rows, packed with every reflection in.

Pretraining measures reflection vs document loss on them (``SPPTrainer``'s held-out eval) and ``spp curves`` measures
each checkpoint on the same windows, rebuilt from the corpus and the ``data_view`` the model's ``spp.json`` records.
Both build them here, so the two can never drift apart.

Promises:
- ``build_heldout_windows`` packs the held-out documents under the ``spp_t0`` view (every reflection in, at the
  arm's placement: the block at the pause, or at the document's end for ``spp_t0_end``) with the run's packing
  (``seq_len``, ``reflection_budget``, ``layout``, ``plain_fill``) and keeps up to ``max_windows`` windows, those
  holding a reflection first.
- ``heldout_windows_of_corpus`` rebuilds exactly the windows a run measured from its corpus and its recorded
  ``data_view`` (rows ``[0, heldout_documents)`` of the corpus, in stored order, tokenized in the recorded voice); a
  view without the fields it needs, or with no held-out documents, is ``SppConfigError``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from spp.errors import SppConfigError
from spp.pretrain.arms import make_view
from spp.pretrain.corpus import load_corpus, split_and_order
from spp.pretrain.data import DocumentStream, PackedArm
from spp.pretrain.documents import tokenize_batch
from spp.pretrain.packing import Window
from spp.pretrain.tokenizer import marker_ids

# the data-view fields the held-out windows need (spp.json details.data_view, or spp curves' flags)
HELDOUT_VIEW_FIELDS = ("seq_len", "reflection_budget", "heldout_documents", "voice")


def heldout_windows(arm: PackedArm, max_windows: int) -> list[Window]:
    """Up to ``max_windows`` windows of ``arm``, those holding a reflection first (stream order within each group)."""
    with_block: list[Window] = []
    plain: list[Window] = []
    for window in arm.windows():
        (with_block if window.reflections else plain).append(window)
        if len(with_block) >= max_windows:
            break
    return with_block + plain[: max_windows - len(with_block)]


def build_heldout_windows(
    documents: DocumentStream,
    tokenizer,
    *,
    seq_len: int,
    reflection_budget: int,
    max_windows: int,
    layout: str = "dense",
    plain_fill: str = "reserve",
    placement: str = "pause",
    seed: int = 0,
) -> list[Window]:
    """The held-out windows of ``documents`` (the held-out rows, tokenized): packed under the ``spp_t0`` view at
    ``placement`` with the run's packing, up to ``max_windows`` of them, those holding a reflection first."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    arm = PackedArm(
        documents,
        make_view("spp_t0", placement=placement, seed=seed),
        seq_len=seq_len,
        reflection_budget=reflection_budget,
        eos_id=tokenizer.eos_token_id,
        pad_id=pad_id,
        layout=layout,
        plain_fill=plain_fill,
    )
    return heldout_windows(arm, max_windows)


def heldout_windows_of_corpus(
    corpus: str, tokenizer, data_view: dict[str, Any], max_windows: int, placement: str | None = None
) -> list[Window]:
    """The held-out windows a pretraining run measured, rebuilt from its ``corpus`` and the ``data_view`` its
    ``spp.json`` records (``details.data_view``; ``placement``: its ``details.placement``, default ``pause``)."""
    missing = [k for k in HELDOUT_VIEW_FIELDS if k not in data_view]
    if missing:
        raise SppConfigError(f"the model's spp.json has no data_view {missing}", field="details.data_view")
    if not data_view["heldout_documents"]:
        raise SppConfigError("the model was pretrained with no held-out documents", field="heldout_documents")
    dataset, block_format = load_corpus(corpus)
    seed = int(data_view.get("data_seed") or 0)
    _, heldout = split_and_order(dataset, int(data_view["heldout_documents"]), seed, False)
    tokenize = partial(
        tokenize_batch, tokenizer=tokenizer, voice=data_view["voice"], marker_ids=marker_ids(tokenizer, block_format)
    )
    return build_heldout_windows(
        DocumentStream(heldout, tokenize),
        tokenizer,
        seq_len=int(data_view["seq_len"]),
        reflection_budget=int(data_view["reflection_budget"]),
        max_windows=max_windows,
        layout=data_view.get("layout") or "dense",
        plain_fill=data_view.get("plain_fill") or "reserve",
        placement=placement or "pause",
        seed=seed,
    )
