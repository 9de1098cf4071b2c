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
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from spp.contract import block_ids, encode_reflection
from spp.errors import SppConfigError

PAD, DOCUMENT, REFLECTION = 0, 1, 2
LAYOUTS = ("dense", "document")
PLACEMENT_PREFIX = {"pause": "", "end": "end_"}
TOKENIZED_COLUMNS = (
    "id",
    "doc_ids",
    "n_tokens",
    "harm_score",
    "pause",
    "block_ids",
    "end_pause",
    "end_block_ids",
)
SKIP_OVER_BUDGET = "block longer than reflection_budget"
SKIP_PAUSE_OUTSIDE = "pause past the document tokens a window holds"


@dataclass(frozen=True)
class Document:
    """A tokenized document.

    ``pause``/``block``: token index of its pause reflection and the block (marker + reflection + end marker), ``None``
    without one; ``end_pause``/``end_block``: the same for the end placement (``spp augment --placement end``). An arm
    picks one placement (``ArmView.placed``). ``annotated``/``reserve``: whether the corpus has a reflection for it
    in any placement, and the longest of those blocks: the layout reads only these, so it is the same in every arm.
    """

    id: str
    ids: list[int]
    pause: int | None = None
    block: list[int] | None = None
    harm_score: float | None = None
    end_pause: int | None = None
    end_block: list[int] | None = None

    @property
    def annotated(self) -> bool:
        return self.block is not None or self.end_block is not None

    @property
    def reserve(self) -> int:
        return max(len(self.block or ()), len(self.end_block or ()))

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Document:
        placed = {}
        for prefix in PLACEMENT_PREFIX.values():
            pause = row.get(f"{prefix}pause")
            has = pause is not None and pause >= 0
            placed[prefix] = (pause, list(row[f"{prefix}block_ids"])) if has else (None, None)
        return cls(
            row["id"],
            list(row["doc_ids"]),
            *placed[""],
            row["harm_score"],
            *placed["end_"],
        )


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


def _reflection(batch: dict[str, list], i: int, voice: str, prefix: str) -> tuple[int, str] | None:
    """``(character position, reflection text)`` of row ``i`` in one placement, or ``None`` without one."""
    status = batch.get(f"{prefix}reflection_status")
    if status is None or status[i] != "ok":
        return None
    reflection, position = batch[f"{prefix}reflection_{voice}"][i], batch[f"{prefix}reflection_position"][i]
    if not reflection or position is None or not 0 <= position <= len(batch["text"][i]):
        raise SppConfigError(
            f"row {batch['id'][i]!r} has {prefix}reflection_status 'ok' but no usable {prefix}reflection_{voice}/"
            f"{prefix}reflection_position",
            field=f"{prefix}reflection_{voice}",
            fix="re-run the producer on this row or mark it rejected",
        )
    return position, reflection


def tokenize_batch(
    batch: dict[str, list], tokenizer, voice: str, marker_ids: tuple[int, int | None]
) -> dict[str, list]:
    """A ``Dataset.map(batched=True)`` function: corpus rows -> ``TOKENIZED_COLUMNS``.

    A document is tokenized in pieces split at every reflection position the corpus has for it (pause and end
    placements, in every arm), so its tokens are the same whichever block goes in, or none. ``pause``/``end_pause``
    are token indices (``-1``: no reflection), ``block_ids``/``end_block_ids`` the blocks in ``voice``. Special-token
    text inside documents or reflections is tokenized as plain text, so a document cannot forge a marker or an EOS.
    """
    if "reflection_status" not in batch:
        raise SppConfigError(
            "the corpus has no reflection_status column: it is not an spp augment output",
            field="dataset_path",
            fix="run spp augment on it first (every arm, the baseline too, reads the augmented corpus)",
        )
    out: dict[str, list] = {name: [] for name in TOKENIZED_COLUMNS}
    for i, text in enumerate(batch["text"]):
        found = {p: _reflection(batch, i, voice, prefix) for p, prefix in PLACEMENT_PREFIX.items()}
        cuts = sorted({pos for pos, _ in filter(None, found.values())} | {0, len(text)})
        pieces = [text[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
        encoded = tokenizer(pieces, add_special_tokens=False, split_special_tokens=True)["input_ids"] if pieces else []
        starts, ids = {0: 0}, []
        for b, piece in zip(cuts[1:], encoded, strict=True):
            ids += piece
            starts[b] = len(ids)
        out["id"].append(str(batch["id"][i]))
        out["doc_ids"].append(ids)
        out["n_tokens"].append(len(ids))  # lets a resume find its window without reading doc_ids
        out["harm_score"].append(batch["harm_score"][i] if "harm_score" in batch else None)
        for placement, prefix in PLACEMENT_PREFIX.items():
            reflection = found[placement]
            if reflection is None:
                out[f"{prefix}pause"].append(-1)
                out[f"{prefix}block_ids"].append([])
            else:
                out[f"{prefix}pause"].append(starts[reflection[0]])
                out[f"{prefix}block_ids"].append(block_ids(encode_reflection(tokenizer, reflection[1]), marker_ids))
    return out


@dataclass(frozen=True)
class Layout:
    """Where documents go: the ``layout`` rule over windows of ``capacity`` document tokens and ``budget`` block
    tokens. One object decides for the packer and for the seek (``locate_window``), so they cannot disagree."""

    layout: str
    capacity: int
    budget: int

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise SppConfigError(f"unknown layout {self.layout!r}", field="layout", fix=f"use one of {LAYOUTS}")

    @property
    def max_document_tokens(self) -> int:
        return self.capacity - 1

    def own_window(self, annotated: bool) -> bool:
        """Whether a document gets a window of its own (``document`` layout, annotated)."""
        return annotated and self.layout == "document"

    def opens_window(self, annotated: bool, reserve: int, n_tokens: int, used: int, reserved: int) -> bool:
        """Whether a document starting now must start a new window (the current one has ``used`` document tokens
        and ``reserved`` budget tokens taken)."""
        if used == 0 or self.own_window(annotated):
            return False
        if not annotated:
            return False
        fits_prefix = min(n_tokens + 1, self.capacity) <= self.capacity - used
        fits_block = self.reserve_of(reserve) <= self.budget - reserved
        return not (fits_prefix and fits_block)

    def skip_reason(self, pause: int, block_length: int) -> str | None:
        """Why a block with this pause and length can never be inserted (``None``: it can)."""
        if block_length > self.budget:
            return SKIP_OVER_BUDGET
        if pause > self.max_document_tokens:
            return SKIP_PAUSE_OUTSIDE
        return None

    def reserve_of(self, reserve: int) -> int:
        """Budget a document takes in its window: its longest block, or nothing when no block of it can fit."""
        return reserve if reserve <= self.budget else 0


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


@dataclass(frozen=True)
class PackStart:
    """Where a window stream starts: window ``window_index``; the dense window in progress there starts at token
    ``token_offset`` (EOS included) of the first document given, and the first ``skip_own`` documents given that take
    a window of their own (``document`` layout) were emitted before it. ``locate_window`` finds all three from the
    documents' token counts."""

    window_index: int = 0
    token_offset: int = 0
    skip_own: int = 0


def locate_window(stream_tokens, annotated, reserve, window_index: int, layout: Layout) -> tuple[int, int, int] | None:
    """``(document position, token offset, own-window documents to skip)`` to restart the stream at window
    ``window_index`` (see ``PackStart``), or ``None`` past the end.

    ``stream_tokens[i]`` is what document ``i`` adds to the stream: its tokens + 1 (EOS), or 0 when the arm drops it;
    ``annotated``/``reserve`` are the layout's inputs. Walks the layout over these counts alone (no token is read).
    """
    found = None
    for index, position, offset, read in _resume_states(stream_tokens, annotated, reserve, layout, final=True):
        if position is None:  # the final entry: the window count
            return found if window_index < index else None
        if index > window_index:  # window ``window_index`` was emitted: it exists
            return found
        if index == window_index:
            found = (position, offset, read - position)
    return None


def count_windows(stream_tokens, annotated, reserve, layout: Layout) -> int:
    """How many windows the stream has (the last, partial one included)."""
    states = list(_resume_states(stream_tokens, annotated, reserve, layout, final=True))
    return states[-1][0]


def _resume_states(stream_tokens, annotated, reserve, layout: Layout, final: bool = False):
    """For every window index ``k``, ``(k, P, O, c)``: restarting at document ``P``, token ``O``, and skipping the
    own-window documents before document ``c``, the packer emits window ``k`` next. With ``final``, one last entry
    gives the window count as its index."""
    used = reserved = index = 0
    buffer: tuple[int, int] | None = None  # where the dense window being filled starts
    yield 0, 0, 0, 0
    for position, total in enumerate(int(t) for t in stream_tokens):
        if total == 0:
            continue
        marked, need = bool(annotated[position]), int(reserve[position])
        if layout.own_window(marked):
            index += 1
            yield (index, *(buffer or (position + 1, 0)), position + 1)
            continue
        if layout.opens_window(marked, need, total - 1, used, reserved):
            index, used, reserved, buffer = index + 1, 0, 0, None
            yield index, position, 0, position
        buffer = buffer or (position, 0)
        reserved += layout.reserve_of(need) if marked else 0
        done = 0
        while done < total:
            take = min(layout.capacity - used, total - done)
            used, done = used + take, done + take
            if used == layout.capacity:
                index, used, reserved = index + 1, 0, 0
                buffer = (position, done) if done < total else None
                yield (index, position, done, position) if done < total else (index, position + 1, 0, position + 1)
    if final:
        yield index + (1 if used else 0), None, None, None


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
