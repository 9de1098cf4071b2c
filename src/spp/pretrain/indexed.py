"""Building any window of a ``WindowIndex`` from the token cache, alone: what each rank and worker does for its own
windows, in time independent of the number of ranks.

``TokenTable`` reads a token-cache row by its table row without copying (a document's ids are a numpy view of the
memory-mapped Arrow buffer); ``IndexedWindows`` assembles window ``k`` (document tokens, blocks the arm inserts at
that point of the schedule, padding) as a ``Window`` (identical to the streaming packer's) or directly as model
inputs (``item``, no Python lists on the way).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from spp.pretrain.documents import DOCUMENT, PAD, PLACEMENT_PREFIX, REFLECTION, SKIP_PAUSE_OUTSIDE
from spp.pretrain.items import item_tensors
from spp.pretrain.layout import Layout
from spp.pretrain.packing import PackingStats, Window, window_spans
from spp.pretrain.window_index import OWN, WindowIndex


class TokenTable:
    """Rows of a token cache (an Arrow-backed ``datasets.Dataset``, before any ``select``/``shuffle`` order), by table
    row. Pickles as its dataset (whose memory-mapped files are reopened, not copied)."""

    def __init__(self, dataset):
        self.dataset = dataset
        table = dataset.data.table
        self._columns = {name: table.column(name) for name in table.column_names}
        self._starts = {
            name: np.cumsum([0] + [len(chunk) for chunk in column.chunks]).tolist()
            for name, column in self._columns.items()
        }
        self._lists = lru_cache(maxsize=65536)(self._list_chunk)

    def __reduce__(self):
        return (TokenTable, (self.dataset,))

    def _where(self, name: str, row: int) -> tuple[int, int]:
        starts = self._starts[name]
        chunk = bisect_right(starts, row) - 1
        return chunk, row - starts[chunk]

    def _list_chunk(self, name: str, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        array = self._columns[name].chunk(chunk)
        return array.offsets.to_numpy(), array.values.to_numpy(zero_copy_only=False)

    def tokens(self, name: str, row: int) -> np.ndarray:
        """The list column ``name`` at ``row`` (token ids) as a numpy view."""
        chunk, local = self._where(name, row)
        offsets, values = self._lists(name, chunk)
        return values[offsets[local] : offsets[local + 1]]

    def scalar(self, name: str, row: int):
        """Column ``name`` at ``row`` as a Python value (``None`` for a null or a missing column)."""
        if name not in self._columns:
            return None
        chunk, local = self._where(name, row)
        return self._columns[name].chunk(chunk)[local].as_py()

    def has(self, name: str) -> bool:
        return name in self._columns


@dataclass
class _Parts:
    """Window ``k`` before it becomes a ``Window`` or tensors."""

    ids: np.ndarray
    kinds: np.ndarray
    harmful: list[tuple[int, int]]
    rows: list[int]
    reflections: list[int]
    skipped: int
    documents: int = 0
    offered: int = 0
    scheduled_off: int = 0
    truncated: int = 0
    skip_reasons: Counter = field(default_factory=Counter)


class IndexedWindows:
    """Window ``k`` of ``view``'s stream over the token cache ``table``, as ``index`` places it."""

    def __init__(self, index: WindowIndex, table: TokenTable, view, *, layout: Layout, seq_len: int, eos_id: int,
                 pad_id: int):  # fmt: skip
        self.index, self.table, self.view, self.layout = index, table, view, layout
        self.seq_len, self.eos_id, self.pad_id = seq_len, eos_id, pad_id
        self.prefix = PLACEMENT_PREFIX[view.arm.placement]

    def __len__(self) -> int:
        return len(self.index)

    def item(self, k: int):
        """Model inputs of window ``k`` (``spp.pretrain.items.item_tensors``)."""
        parts = self._parts(k, harm=self.view.loss_on == "no_harmful_context")
        return item_tensors(
            parts.ids, parts.kinds, parts.harmful, len(parts.reflections), parts.skipped, self.view.loss_on
        )

    def window(self, k: int, stats: PackingStats | None = None) -> Window:
        """Window ``k`` as the streaming packer gives it; ``stats`` (when given) counts it."""
        parts = self._parts(k, harm=True)
        if stats is not None:
            stats.windows += 1
            stats.documents += parts.documents
            stats.offered += parts.offered
            stats.reflections += len(parts.reflections)
            stats.scheduled_off += parts.scheduled_off
            stats.truncated_tokens += parts.truncated
            stats.padding_tokens += int((parts.kinds == PAD).sum())
            stats.skipped_reflections.update(parts.skip_reasons)
        documents: list[str] = []
        for row in parts.rows:
            doc_id = self.table.scalar("id", row)
            if not documents or documents[-1] != doc_id:
                documents.append(doc_id)
        return Window(
            k,
            parts.ids.tolist(),
            parts.kinds.tolist(),
            documents,
            [self.table.scalar("id", row) for row in parts.reflections],
            parts.skipped,
            parts.harmful,
        )

    def _parts(self, k: int, harm: bool) -> _Parts:
        record = self.index.windows[k]
        start, offset, length = int(record["start"]), int(record["offset"]), int(record["length"])
        parts = _Parts(np.empty(0), np.empty(0), [], [], [], 0)
        spans: list[tuple[int, int]] | None = [] if harm else None
        pieces: list[np.ndarray] = []
        inserts: list[tuple[int, np.ndarray]] = []
        used = 0
        if offset == OWN:
            ids = self.table.tokens("doc_ids", start)
            keep = self.layout.max_document_tokens
            parts.truncated = max(0, len(ids) - keep)
            self._offer(parts, inserts, start, len(ids), 0, k)
            pieces = [ids[:keep], np.asarray([self.eos_id])]
            used = min(len(ids), keep) + 1
            self._start(parts, spans, start, 0, used)
        position = start
        while offset != OWN and used < length:
            row = int(self.index.dense_rows[position])
            ids = self.table.tokens("doc_ids", row)
            begin = offset if position == start else 0
            take = min(len(ids) + 1 - begin, length - used)
            if begin == 0:
                self._offer(parts, inserts, row, len(ids), used, k)
            end = begin + take
            pieces.append(ids[begin : min(end, len(ids))])
            if end > len(ids):
                pieces.append(np.asarray([self.eos_id]))
            self._start(parts, spans, row, used, used + take, counted=begin == 0)
            used += take
            position += 1
        return self._assemble(parts, pieces, inserts, spans)

    def _start(self, parts: _Parts, spans, row: int, begin: int, end: int, counted: bool = True) -> None:
        """Record ``row``'s document tokens at content ``[begin, end)`` (in ``spans`` when harmful and wanted)."""
        parts.rows.append(row)
        parts.documents += int(counted)
        if spans is not None and self.view.is_harmful(self.table.scalar("harm_score", row)):
            spans.append((begin, end))

    def _offer(self, parts: _Parts, inserts: list, row: int, n_tokens: int, used: int, k: int) -> None:
        """Queue ``row``'s block at ``used + pause`` if the arm puts it in at window ``k``; count why not (the
        streaming packer's ``_offer_block``)."""
        if not self.view.has_reflections:
            return
        pause = self.table.scalar(f"{self.prefix}pause", row)
        if pause is None or pause < 0:
            return
        tokens = k * self.seq_len
        fraction = self.view.schedule.active_fraction(tokens)
        if not (fraction >= 1.0 or (fraction > 0 and self.view.schedule.reflects(self.table.scalar("id", row), tokens))):
            parts.scheduled_off += 1
            return
        parts.offered += 1
        block = self.table.tokens(f"{self.prefix}block_ids", row)
        reason = self.layout.skip_reason(pause, len(block))
        if reason is None and (pause > n_tokens or pause > self.layout.capacity - used - 1):
            reason = SKIP_PAUSE_OUTSIDE
        if reason:
            parts.skip_reasons[reason] += 1
            parts.skipped += 1
        else:
            inserts.append((used + pause, block))
            parts.reflections.append(row)

    def _assemble(self, parts: _Parts, pieces, inserts, spans) -> _Parts:
        content = np.concatenate(pieces) if pieces else np.empty(0, dtype=np.int64)
        body, kinds, lengths, cursor = [], [], [], 0
        for offset, block in inserts:
            body += [content[cursor:offset], block]
            kinds += [DOCUMENT, REFLECTION]
            lengths += [offset - cursor, len(block)]
            cursor = offset
        body.append(content[cursor:])
        kinds.append(DOCUMENT)
        lengths.append(len(content) - cursor)
        filled = sum(lengths)
        ids = np.full(self.seq_len + 1, self.pad_id, dtype=np.int64)
        ids[:filled] = np.concatenate(body)
        parts.ids = ids
        parts.kinds = np.repeat(np.asarray([*kinds, PAD], dtype=np.int8), [*lengths, self.seq_len + 1 - filled])
        parts.harmful = window_spans(spans or [], [(offset, len(block)) for offset, block in inserts])
        return parts
