"""Tokenizing documents and packing them into training windows of ``seq_len + 1`` tokens.

A window holds at most ``capacity = seq_len - reflection_budget`` document tokens (EOS included) and reserves the
``reflection_budget`` on top for reflection blocks; the rest is padding, which carries no loss. Two layouts:

- ``dense`` (spp's default): documents are packed back to back with an EOS after each and split across windows
  where they fall, except that an *annotated* document (one with a reflection in the corpus, in any placement)
  starts a new window when its first ``min(n, capacity)`` tokens or its reserved block would not fit in the current
  one. So a reflection's document prefix is always in the reflection's window, and two reflections never compete for
  one window's budget.
- ``document`` (the SPP authors'): an annotated document gets a window of its own, truncated to
  ``seq_len - reflection_budget - 1`` document tokens, its reflection at the pause, padding after; plain documents
  are dense-packed into the other windows.

The layout depends only on the corpus (token counts and which rows are annotated), never on the arm: document
tokens of window ``k`` are identical in every arm, the baseline included, and every arm is data-matched window by
window. Every block that an arm would insert and cannot is counted in ``PackingStats.skipped_reflections`` by
reason, and every document token that the ``document`` layout truncates in ``truncated_tokens``.

This module is the streaming packer (``pack_windows``) and what it yields (``Window``, ``PackingStats``); the
tokenized rows it reads are ``spp.pretrain.documents``, the layout rules and stream seeking ``spp.pretrain.layout``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from spp.errors import SppConfigError
from spp.pretrain.documents import (
    DOCUMENT,
    PAD,
    REFLECTION,
    SKIP_PAUSE_OUTSIDE,
    Document,
    tokenize_batch,  # noqa: F401 - eval/curves.py, tests/gpu and benchmarks/pretrain_throughput.py import it from here
)
from spp.pretrain.layout import Layout, PackStart


@dataclass
class Window:
    """One training window: ``input_ids`` and ``kinds`` have ``seq_len + 1`` entries (PAD / DOCUMENT / REFLECTION).

    ``documents``: ids of the documents with tokens in it, in order; ``reflections``: ids whose block it holds.
    """

    index: int
    input_ids: list[int]
    kinds: list[int]
    documents: list[str]
    reflections: list[str]
    skipped: int = 0


@dataclass
class PackingStats:
    """Counts kept by the packer: what went in and, with reasons, what did not.

    ``offered``: blocks the arm would insert (its schedule says so at that window); ``reflections``: blocks inserted;
    ``skipped_reflections``: offered blocks not inserted, by reason; ``scheduled_off``: blocks the schedule keeps out
    (spp_mt before midtraining), which is the arm's definition, not a loss.
    """

    windows: int = 0
    documents: int = 0
    offered: int = 0
    reflections: int = 0
    scheduled_off: int = 0
    truncated_tokens: int = 0
    padding_tokens: int = 0
    dropped: Counter = field(default_factory=Counter)
    skipped_reflections: Counter = field(default_factory=Counter)

    @property
    def skipped(self) -> int:
        return sum(self.skipped_reflections.values())

    def to_dict(self) -> dict[str, Any]:
        out = {k: (dict(sorted(v.items())) if isinstance(v, Counter) else v) for k, v in vars(self).items()}
        out["skipped"] = self.skipped
        return out


class _WindowBuilder:
    """Accumulates one window's document tokens and the blocks to insert into it."""

    def __init__(self) -> None:
        self.content: list[int] = []
        self.documents: list[str] = []
        self.inserts: list[tuple[int, str, list[int]]] = []
        self.reserved = 0
        self.skipped = 0

    def build(self, index: int, seq_len: int, pad_id: int, stats: PackingStats) -> Window:
        ids: list[int] = []
        kinds: list[int] = []
        reflections: list[str] = []
        cursor = 0
        for offset, doc_id, block in self.inserts:
            ids += self.content[cursor:offset] + block
            kinds += [DOCUMENT] * (offset - cursor) + [REFLECTION] * len(block)
            cursor = offset
            reflections.append(doc_id)
        ids += self.content[cursor:]
        kinds += [DOCUMENT] * (len(self.content) - cursor)
        pad = seq_len + 1 - len(ids)
        stats.windows += 1
        stats.reflections += len(reflections)
        stats.padding_tokens += pad
        return Window(index, ids + [pad_id] * pad, kinds + [PAD] * pad, self.documents, reflections, self.skipped)


def pack_windows(
    documents: Iterable[Document],
    view,
    *,
    seq_len: int,
    reflection_budget: int,
    eos_id: int,
    pad_id: int,
    layout: str = "dense",
    stats: PackingStats | None = None,
    start: PackStart | None = None,
) -> Iterator[Window]:
    """The global window stream of ``view`` (an ``ArmView``) over ``documents``, in document order.

    A document's block is inserted at its pause when ``view.reflects(doc, window_index * seq_len)``. The last,
    partial window is emitted padded. With ``start``, the stream begins at that window (``documents`` begin at the
    document ``locate_window`` names): the windows are exactly those a stream from window 0 would give from there.
    In the ``document`` layout an annotated document's window is emitted when the document is read; the dense
    window being filled meanwhile takes the next index when it is full.
    """
    if not 0 <= reflection_budget < seq_len:
        raise SppConfigError("reflection_budget must be in [0, seq_len)", field="reflection_budget")
    stats = stats if stats is not None else PackingStats()
    rule = Layout(layout, seq_len - reflection_budget, reflection_budget)
    start = start or PackStart()
    index, window, offset = start.window_index, _WindowBuilder(), start.token_offset

    def emit(builder: _WindowBuilder) -> Window:
        nonlocal index
        index += 1
        return builder.build(index - 1, seq_len, pad_id, stats)

    for position, doc in enumerate(documents):
        reason = view.drop_reason(doc)
        if reason is not None:
            stats.dropped[reason] += 1
            continue
        if rule.own_window(doc.annotated):
            if position >= start.skip_own:
                stats.documents += 1
                yield emit(_own_window(doc, view, rule, stats, seq_len, eos_id, index))
            continue
        stats.documents += 1
        used, reserved = len(window.content), window.reserved
        if offset == 0 and rule.opens_window(doc.annotated, doc.reserve, len(doc.ids), used, reserved):
            yield emit(window)
            window = _WindowBuilder()
        tokens, done = [*doc.ids, eos_id], offset
        if offset == 0 and doc.annotated:
            window.reserved += rule.reserve_of(doc.reserve)
            _offer_block(window, doc, view, rule, stats, seq_len, index)
        offset = 0
        while done < len(tokens):
            take = min(rule.capacity - len(window.content), len(tokens) - done)
            if not window.documents or window.documents[-1] != doc.id:
                window.documents.append(doc.id)
            window.content += tokens[done : done + take]
            done += take
            if len(window.content) == rule.capacity:
                yield emit(window)
                window = _WindowBuilder()
    if window.content:
        yield emit(window)


def _own_window(doc: Document, view, rule: Layout, stats: PackingStats, seq_len: int, eos_id: int, index: int):
    """The ``document`` layout's window of an annotated document: truncated to ``max_document_tokens``, its block."""
    own = _WindowBuilder()
    stats.truncated_tokens += max(0, len(doc.ids) - rule.max_document_tokens)
    _offer_block(own, doc, view, rule, stats, seq_len, index)
    own.content = [*doc.ids[: rule.max_document_tokens], eos_id]
    own.documents.append(doc.id)
    return own


def _offer_block(
    window: _WindowBuilder, doc: Document, view, rule: Layout, stats: PackingStats, seq_len: int, index: int
) -> None:
    """Queue ``doc``'s block in ``window`` (window ``index``; the document starts there) if the arm puts it in now;
    count why not."""
    pause, block = view.placed(doc)
    if pause is None or not view.has_reflections:
        return
    if not view.reflects(doc, index * seq_len):
        stats.scheduled_off += 1
        return
    stats.offered += 1
    reason = rule.skip_reason(pause, len(block))
    if reason is None and (pause > len(doc.ids) or pause > rule.capacity - len(window.content) - 1):
        reason = SKIP_PAUSE_OUTSIDE
    if reason:
        stats.skipped_reflections[reason] += 1
        window.skipped += 1
    else:
        window.inserts.append((len(window.content) + pause, doc.id, block))
