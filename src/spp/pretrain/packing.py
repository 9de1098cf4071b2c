"""Tokenizing documents and packing them into fixed training windows of ``seq_len + 1`` tokens.

Every window holds exactly ``content_tokens = seq_len - reflection_budget`` document tokens (the last window of the
stream may hold fewer), dense-packed with an EOS after each document and split across windows where they fall.
Reflection blocks come on top, inside the reflection budget, at their document's pause: a block is never split
over two windows, and because the document tokens of window ``k`` do not depend on the arm, every arm is
data-matched window by window (the authors' 1920 + 128 at ``seq_len`` 2048). The rest of the window is padding,
which carries no loss. A block that does not fit the budget left in its window is skipped and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from spp.errors import SppConfigError

PAD, DOCUMENT, REFLECTION = 0, 1, 2
TOKENIZED_COLUMNS = ("id", "doc_ids", "pause", "block_ids", "harm_score", "n_tokens")


@dataclass(frozen=True)
class Document:
    """A tokenized document. ``pause``: document tokens before its reflection (``None`` with no reflection);
    ``block``: marker + reflection + end marker token ids, or ``None``."""

    id: str
    ids: list[int]
    pause: int | None = None
    block: list[int] | None = None
    harm_score: float | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Document:
        has_block = row["pause"] is not None and row["pause"] >= 0
        return cls(
            row["id"],
            list(row["doc_ids"]),
            row["pause"] if has_block else None,
            list(row["block_ids"]) if has_block else None,
            row["harm_score"],
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


@dataclass
class PackingStats:
    """Counts kept by the packer: what went in and, with reasons, what did not."""

    windows: int = 0
    documents: int = 0
    reflections: int = 0
    dropped: Counter = field(default_factory=Counter)
    skipped_reflections: Counter = field(default_factory=Counter)


def tokenize_batch(batch: dict[str, list], tokenizer, voice: str, marker_ids: tuple[int, int]) -> dict[str, list]:
    """A ``Dataset.map(batched=True)`` function: corpus rows -> ``TOKENIZED_COLUMNS``.

    A row with ``reflection_status == "ok"`` is tokenized in two pieces split at its ``reflection_position`` (in every
    arm, so the document tokens are the same whether or not the block goes in) and gets its block in ``voice``
    (``1p``/``3p``); other rows get ``pause = -1`` and no block. Special-token text inside documents or reflections
    is tokenized as plain text, so a document cannot forge a marker or an EOS.
    """
    texts, pieces, blocks = batch["text"], [], []
    for i, text in enumerate(texts):
        position, reflection = _reflection(batch, i, voice)
        if reflection is None:
            pieces.append((text,))
        else:
            pieces.append((text[:position], text[position:]))
            blocks.append(reflection.strip())
    flat = [p for group in pieces for p in group]
    encode = tokenizer(flat + blocks, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    out: dict[str, list] = {name: [] for name in TOKENIZED_COLUMNS}
    cursor, block_cursor = 0, len(flat)
    for i, group in enumerate(pieces):
        ids = encode[cursor : cursor + len(group)]
        cursor += len(group)
        out["id"].append(str(batch["id"][i]))
        out["doc_ids"].append([t for part in ids for t in part])
        out["n_tokens"].append(len(out["doc_ids"][-1]))  # lets a resume find its window without reading doc_ids
        out["harm_score"].append(batch["harm_score"][i] if "harm_score" in batch else None)
        if len(group) == 2:
            out["pause"].append(len(ids[0]))
            out["block_ids"].append([marker_ids[0], *encode[block_cursor], marker_ids[1]])
            block_cursor += 1
        else:
            out["pause"].append(-1)
            out["block_ids"].append([])
    return out


def _reflection(batch: dict[str, list], i: int, voice: str) -> tuple[int, str | None]:
    if batch["reflection_status"][i] != "ok":
        return 0, None
    reflection, position = batch[f"reflection_{voice}"][i], batch["reflection_position"][i]
    if not reflection or position is None or not 0 <= position <= len(batch["text"][i]):
        raise SppConfigError(
            f"row {batch['id'][i]!r} has reflection_status 'ok' but no usable reflection_{voice}/reflection_position",
            field=f"reflection_{voice}",
            fix="re-run the producer on this row or mark it rejected",
        )
    return position, reflection


class _WindowBuilder:
    """Accumulates one window's document tokens and the blocks to insert into it."""

    def __init__(self, index: int):
        self.index = index
        self.content: list[int] = []
        self.documents: list[str] = []
        self.inserts: list[tuple[int, str, list[int]]] = []

    def build(self, seq_len: int, reflection_budget: int, pad_id: int, stats: PackingStats) -> Window:
        ids: list[int] = []
        kinds: list[int] = []
        reflections: list[str] = []
        budget, cursor = reflection_budget, 0
        for offset, doc_id, block in self.inserts:
            if len(block) > budget:
                reason = "longer than reflection_budget" if len(block) > reflection_budget else "window budget used"
                stats.skipped_reflections[reason] += 1
                continue
            ids += self.content[cursor:offset] + block
            kinds += [DOCUMENT] * (offset - cursor) + [REFLECTION] * len(block)
            budget, cursor = budget - len(block), offset
            reflections.append(doc_id)
        ids += self.content[cursor:]
        kinds += [DOCUMENT] * (len(self.content) - cursor)
        pad = seq_len + 1 - len(ids)
        stats.windows += 1
        stats.reflections += len(reflections)
        return Window(self.index, ids + [pad_id] * pad, kinds + [PAD] * pad, self.documents, reflections)


@dataclass(frozen=True)
class PackStart:
    """Where a window stream starts: window ``window_index``, whose first token is token ``token_offset`` (EOS
    included) of the first document given. ``locate_window`` finds it from the documents' token counts."""

    window_index: int = 0
    token_offset: int = 0


def locate_window(stream_tokens, window_index: int, capacity: int) -> tuple[int, int] | None:
    """``(document position, token offset)`` of window ``window_index``'s first token, or ``None`` past the end.

    ``stream_tokens[i]`` is what document ``i`` adds to the stream: its tokens + 1 (EOS), or 0 when the arm drops it.
    Window ``k`` starts at stream token ``k * capacity`` because every window holds exactly ``capacity`` document
    tokens (reflections go into the budget on top), so this needs no packing.
    """
    import numpy as np

    ends = np.cumsum(np.asarray(stream_tokens, dtype=np.int64))
    target = window_index * capacity
    position = int(np.searchsorted(ends, target, side="right"))
    if position >= len(ends):
        return None
    start = int(ends[position]) - int(stream_tokens[position])
    return position, target - start


def pack_windows(
    documents: Iterable[Document],
    view,
    *,
    seq_len: int,
    reflection_budget: int,
    eos_id: int,
    pad_id: int,
    stats: PackingStats | None = None,
    start: PackStart | None = None,
) -> Iterator[Window]:
    """The global window stream of ``view`` (an ``ArmView``) over ``documents``, in document order.

    A document's reflection lands in the window holding the token just before its pause, and is inserted when
    ``view.reflects(doc, window_index * seq_len)``. The last, partial window is emitted padded. With ``start``, the
    stream begins at that window (``documents`` begin at the document holding its first token): the windows are
    exactly those a stream from window 0 would give from there on.
    """
    if not 0 <= reflection_budget < seq_len:
        raise SppConfigError("reflection_budget must be in [0, seq_len)", field="reflection_budget")
    stats = stats if stats is not None else PackingStats()
    capacity = seq_len - reflection_budget
    start = start or PackStart()
    window = _WindowBuilder(start.window_index)
    offset = start.token_offset
    for doc in documents:
        reason = view.drop_reason(doc)
        if reason is not None:
            stats.dropped[reason] += 1
            continue
        stats.documents += 1
        tokens, pause, done = [*doc.ids, eos_id], view.pause(doc), offset
        offset = 0
        while done < len(tokens):
            take = min(capacity - len(window.content), len(tokens) - done)
            if not window.documents or window.documents[-1] != doc.id:
                window.documents.append(doc.id)
            if (
                pause is not None
                and (done < pause or done == pause == 0)
                and pause <= done + take
                and view.reflects(doc, window.index * seq_len)
            ):
                window.inserts.append((len(window.content) + pause - done, doc.id, doc.block))
            window.content += tokens[done : done + take]
            done += take
            if len(window.content) == capacity:
                yield window.build(seq_len, reflection_budget, pad_id, stats)
                window = _WindowBuilder(window.index + 1)
    if window.content:
        yield window.build(seq_len, reflection_budget, pad_id, stats)
