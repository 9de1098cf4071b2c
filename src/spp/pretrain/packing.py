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

With ``plain_fill: full`` a window in which no annotated document starts holds ``seq_len + 1`` document tokens
instead of ``capacity`` (no budget kept free, no padding): the authors' compact stream (``Layout``).

The layout depends only on the corpus (token counts and which rows are annotated), never on the arm: document
tokens of window ``k`` are identical in every arm, the baseline included, and every arm is data-matched window by
window. Every block that an arm would insert and cannot is counted in ``PackingStats.skipped_reflections`` by
reason, and every document token that the ``document`` layout truncates in ``truncated_tokens``.

This module is the streaming packer (``pack_windows``: it reads documents in order, so it serves corpora that are
streamed or tokenized on the fly) and what both packers yield (``Window``, ``PackingStats``). A pre-tokenized corpus
is read through its window index instead (``spp.pretrain.window_index``), which gives the same windows, and each
rank reads only its own. The tokenized rows are ``spp.pretrain.documents``, the layout rules ``spp.pretrain.layout``.
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
from spp.pretrain.layout import Layout


@dataclass
class Window:
    """One training window: ``input_ids`` and ``kinds`` have ``seq_len + 1`` entries (PAD / DOCUMENT / REFLECTION).

    ``documents``: ids of the documents with tokens in it, in order; ``reflections``: ids whose block it holds;
    ``harmful_spans``: ``[start, end)`` positions holding document tokens (EOS included) of documents whose harm score
    is at or over the view's threshold (what ``loss_on: no_harmful_context`` masks).
    """

    index: int
    input_ids: list[int]
    kinds: list[int]
    documents: list[str]
    reflections: list[str]
    skipped: int = 0
    harmful_spans: list[tuple[int, int]] = field(default_factory=list)


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


def window_spans(content_spans: list[tuple[int, int]], inserts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Window positions of ``[start, end)`` spans of a window's document content, given the blocks inserted into it
    as ``(content offset, length)`` in offset order (a block at offset ``o`` goes just before content token ``o``)."""
    out = []
    for start, end in content_spans:
        shift, cursor = 0, start
        for offset, length in inserts:
            if offset <= cursor:
                shift += length
            elif offset < end:
                out.append((cursor + shift, offset + shift))
                cursor, shift = offset, shift + length
            else:
                break
        out.append((cursor + shift, end + shift))
    return [(a, b) for a, b in out if b > a]


class _WindowBuilder:
    """Accumulates one window's document tokens and the blocks to insert into it."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity  # document tokens it takes; lowered when an annotated document starts in it
        self.content: list[int] = []
        self.documents: list[str] = []
        self.inserts: list[tuple[int, str, list[int]]] = []
        self.harmful: list[tuple[int, int]] = []  # content spans of harmful documents
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
        harmful = window_spans(self.harmful, [(offset, len(block)) for offset, _, block in self.inserts])
        return Window(
            index, ids + [pad_id] * pad, kinds + [PAD] * pad, self.documents, reflections, self.skipped, harmful
        )


def pack_windows(
    documents: Iterable[Document],
    view,
    *,
    seq_len: int,
    reflection_budget: int,
    eos_id: int,
    pad_id: int,
    layout: str = "dense",
    plain_fill: str = "reserve",
    stats: PackingStats | None = None,
) -> Iterator[Window]:
    """The global window stream of ``view`` (an ``ArmView``) over ``documents``, in document order.

    A document's block is inserted at its pause when ``view.reflects(doc, window_index * seq_len)``. The last,
    partial window is emitted padded. In the ``document`` layout an annotated document's window is emitted when the
    document is read; the dense window being filled meanwhile takes the next index when it is full.
    """
    if not 0 <= reflection_budget < seq_len:
        raise SppConfigError("reflection_budget must be in [0, seq_len)", field="reflection_budget")
    stats = stats if stats is not None else PackingStats()
    rule = Layout(layout, seq_len - reflection_budget, reflection_budget, plain_fill)
    index, window = 0, _WindowBuilder(rule.plain_capacity)

    def emit(builder: _WindowBuilder) -> Window:
        nonlocal index
        index += 1
        return builder.build(index - 1, seq_len, pad_id, stats)

    for doc in documents:
        reason = view.drop_reason(doc)
        if reason is not None:
            stats.dropped[reason] += 1
            continue
        stats.documents += 1
        if rule.own_window(doc.annotated):
            yield emit(_own_window(doc, view, rule, stats, seq_len, eos_id, index))
            continue
        if rule.opens_window(doc.annotated, doc.reserve, len(doc.ids), len(window.content), window.reserved):
            yield emit(window)
            window = _WindowBuilder(rule.plain_capacity)
        tokens, done = [*doc.ids, eos_id], 0
        if doc.annotated:
            window.capacity = min(window.capacity, rule.capacity)
            window.reserved += rule.reserve_of(doc.reserve)
            _offer_block(window, doc, view, rule, stats, seq_len, index)
        while done < len(tokens):
            take = min(window.capacity - len(window.content), len(tokens) - done)
            if not window.documents or window.documents[-1] != doc.id:
                window.documents.append(doc.id)
            if view.is_harmful(doc.harm_score):
                window.harmful.append((len(window.content), len(window.content) + take))
            window.content += tokens[done : done + take]
            done += take
            if len(window.content) == window.capacity:
                yield emit(window)
                window = _WindowBuilder(rule.plain_capacity)
    if window.content:
        yield emit(window)


def _own_window(doc: Document, view, rule: Layout, stats: PackingStats, seq_len: int, eos_id: int, index: int):
    """The ``document`` layout's window of an annotated document: truncated to ``max_document_tokens``, its block."""
    own = _WindowBuilder(rule.capacity)
    stats.truncated_tokens += max(0, len(doc.ids) - rule.max_document_tokens)
    _offer_block(own, doc, view, rule, stats, seq_len, index)
    own.content = [*doc.ids[: rule.max_document_tokens], eos_id]
    own.documents.append(doc.id)
    if view.is_harmful(doc.harm_score):
        own.harmful.append((0, len(own.content)))
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
