"""The window index: where every window of an arm's global stream starts, computed once from token counts.

Every rank and dataloader worker of a run reads the same index and builds only its own windows, so a rank's cost
per window does not grow with the number of ranks, and a resume at window ``k`` is a lookup (OLMo-core's packing
instance source and Megatron's sample index work the same way). The index is computed with numpy from the token
cache's count columns (cumulative sums, plus one pass over the annotated documents for the ``dense`` layout's rule),
never from the tokens, and gives exactly the windows of the streaming packer (``spp.pretrain.packing``).

What it holds, per window ``k`` of the global stream (``windows``, a structured array): ``offset`` is ``-1`` for an
annotated document's own window (``document`` layout), whose ``start`` is then the document's table row; otherwise
the window is a run of the *dense stream* (``dense_rows``: table rows of the documents that are packed back to back,
in stream order) that begins at ``dense_rows[start]``, token ``offset`` (EOS counted as the last token of each
document), and holds ``length`` document tokens. A document's table row may appear more than once in ``dense_rows``
only in an enriched midtraining stream (``Enrichment``), whose repeats are counted in ``meta["midtraining"]``.

Stored as ``.npy`` files read as memory maps (``load``), in a folder keyed by everything that shapes the stream
(corpus and tokenizer through the token cache's key, order, layout, data view); ``load_or_build`` builds it in one
process under a file lock and shares it with every other process and node on the same file system.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from spp.pretrain.layout import Layout

logger = logging.getLogger("spp.pretrain")
INDEX_FORMAT = 1
META_FILE = "index.json"
OWN = -1  # ``offset`` of an annotated document's own window


@dataclass
class StreamInputs:
    """Per document of the training split, in stream order, what the layout reads: its table ``rows``, ``tokens``
    it adds to the stream (``n_tokens + 1`` where the arm keeps it, 0 where it drops it), whether the corpus has a
    reflection for it in any placement (``annotated``) and its longest block (``reserve``)."""

    rows: np.ndarray
    tokens: np.ndarray
    annotated: np.ndarray
    reserve: np.ndarray


@dataclass(frozen=True)
class Enrichment:
    """A midtraining stream in which ``share`` of the documents are annotated: from global window ``start_window``
    (the first window of the midtraining phase) the documents not read yet are interleaved with annotated ones so
    that ``floor(share * i)`` of the first ``i`` midtraining documents are annotated; when the annotated documents
    not read yet run out, up to ``max_repeats`` more passes over all of the arm's annotated documents (each in a
    seeded order) follow, so no document occurs more than ``1 + max_repeats`` times in the run. The stream ends when
    either kind runs out (the start-up audit then stops a run that needs more windows)."""

    start_window: int
    share: float
    max_repeats: int
    seed: int


@dataclass
class _Table:
    """Windows over one occurrence stream (positions into ``StreamInputs``), before rows are attached."""

    dense: np.ndarray  # occurrence positions of the dense stream
    start: np.ndarray  # dense index, or the occurrence position of an own window
    offset: np.ndarray
    length: np.ndarray
    emission: np.ndarray  # occurrence position whose reading emits the window (len(stream) for the last partial one)


def layout_windows(tokens: np.ndarray, annotated: np.ndarray, reserve: np.ndarray, layout: Layout) -> _Table:
    """The windows of the stream whose documents add ``tokens`` (0 = dropped), in global order."""
    tokens = np.asarray(tokens, dtype=np.int64)
    annotated = np.asarray(annotated, dtype=bool) & (tokens > 0)
    reserve = np.asarray(reserve, dtype=np.int64)
    if layout.layout == "document":
        return _document_layout(tokens, annotated, layout)
    return _dense_layout(tokens, annotated, reserve, layout)


def _exclusive_cumsum(values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(values, out=out[1:])
    return out


def _locate(cum: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Index of the document holding each stream position (``cum``: exclusive cumulative token counts)."""
    return np.searchsorted(cum, positions, side="right") - 1


def _document_layout(tokens: np.ndarray, own: np.ndarray, layout: Layout) -> _Table:
    n = len(tokens)
    dense = np.flatnonzero((tokens > 0) & ~own)
    cum = _exclusive_cumsum(tokens[dense])
    total, capacity = int(cum[-1]), layout.plain_capacity
    starts = np.arange(-(-total // capacity), dtype=np.int64) * capacity
    lengths = np.minimum(capacity, total - starts)
    first = _locate(cum, starts)
    last = _locate(cum, starts + lengths - 1)
    # a full window is emitted while its last document is read; the last, partial one after every document
    emission = np.where(lengths == capacity, dense[last] if len(dense) else 0, n)
    own_at = np.flatnonzero(own)
    own_length = np.minimum(tokens[own_at] - 1, layout.max_document_tokens) + 1
    order = np.argsort(np.concatenate([emission, own_at]), kind="stable")  # ties: none (distinct documents)
    return _Table(
        dense,
        np.concatenate([first, own_at])[order],
        np.concatenate([starts - cum[first], np.full(len(own_at), OWN)])[order],
        np.concatenate([lengths, own_length])[order],
        np.concatenate([emission, own_at])[order],
    )


def _dense_layout(tokens: np.ndarray, annotated: np.ndarray, reserve: np.ndarray, layout: Layout) -> _Table:
    """Windows partition the kept stream into runs; a run starts where the last one ended. They are regular (of the
    plain capacity) between *anchors*: where an annotated document opens a window, and where one lowers the capacity
    of the window it starts in. Only annotated documents are visited one by one."""
    n = len(tokens)
    dense = np.flatnonzero(tokens > 0)
    t = tokens[dense]
    cum = _exclusive_cumsum(t)
    total = int(cum[-1])
    anchors, caps = _dense_anchors(cum, t, annotated[dense], reserve[dense], layout)
    bounds = np.asarray([*anchors, total], dtype=np.int64)
    caps_arr = np.asarray(caps, dtype=np.int64)
    spans = bounds[1:] - bounds[:-1]
    plain = layout.plain_capacity
    counts = np.where(spans > 0, 1 + np.maximum(0, -(-(spans - caps_arr) // plain)), 0)
    segment = np.repeat(np.arange(len(caps_arr)), counts)
    within = np.arange(int(counts.sum())) - np.repeat(_exclusive_cumsum(counts)[:-1], counts)
    starts = bounds[segment] + np.where(within == 0, 0, caps_arr[segment] + (within - 1) * plain)
    capacity = np.where(within == 0, caps_arr[segment], plain)
    ends = np.minimum(starts + capacity, bounds[segment + 1])
    first = _locate(cum, starts)
    full = ends - starts == capacity
    # emitted while its last document is read when full; else by the annotated document that opens the next one,
    # or after every document (the last window)
    holder = np.where(full, _locate(cum, ends - 1), _locate(cum, np.minimum(ends, max(total - 1, 0))))
    emission = np.where(full, dense[holder] if len(dense) else 0, np.where(ends < total, dense[holder], n))
    return _Table(dense, first, starts - cum[first], ends - starts, emission)


def _dense_anchors(cum, tokens, annotated, reserve, layout: Layout) -> tuple[list[int], list[int]]:
    """``(starts, capacities)`` of the windows that annotated documents open or shrink (see ``_dense_layout``)."""
    capacity, plain, budget = layout.capacity, layout.plain_capacity, layout.budget
    starts, caps = [0], [plain]
    taken_at, taken = -1, 0  # the window whose budget is partly taken, and how much
    marked = np.flatnonzero(annotated)
    needs = [layout.reserve_of(r) for r in reserve[marked].tolist()]
    for at, total, need in zip(cum[marked].tolist(), tokens[marked].tolist(), needs, strict=True):
        start, cap = starts[-1], caps[-1]
        if at >= start + cap:  # past the anchored window: in a regular window of the plain capacity
            start = start + cap + (at - start - cap) // plain * plain
        used = at - start
        reserved = taken if taken_at == start else 0
        if used > 0 and (min(total, capacity) > capacity - used or need > budget - reserved):
            starts.append(at)  # the document opens a window (Layout.opens_window)
            caps.append(capacity)
            taken_at, taken = at, need
            continue
        if start == starts[-1]:
            caps[-1] = min(caps[-1], capacity)
        else:
            starts.append(start)
            caps.append(capacity)
        taken_at, taken = start, reserved + need
    return starts, caps


def enriched_occurrences(inputs: StreamInputs, switch: int, enrichment: Enrichment) -> tuple[np.ndarray, dict]:
    """Stream positions of the enriched stream: ``[0, switch)`` unchanged, then the midtraining interleave (see
    ``Enrichment``); and the counts that describe it."""
    n = len(inputs.tokens)
    kept = inputs.tokens > 0
    marked = kept & inputs.annotated
    rest = np.arange(switch, n)
    plain, first_pass = rest[kept[rest] & ~marked[rest]], rest[marked[rest]]
    rng = np.random.default_rng([enrichment.seed, 27])
    everyone = np.flatnonzero(marked)
    annotated = np.concatenate([first_pass, *(rng.permutation(everyone) for _ in range(enrichment.max_repeats))])
    share = Fraction(enrichment.share).limit_denominator(10**6)
    upto = np.arange(1, len(plain) + len(annotated) + 1, dtype=np.int64)
    annotated_upto = upto * share.numerator // share.denominator
    fits = (annotated_upto <= len(annotated)) & (upto - annotated_upto <= len(plain))
    length = int(np.count_nonzero(fits))  # both counts only grow: the prefix that fits
    is_annotated = np.diff(annotated_upto[:length], prepend=0).astype(bool)
    middle = np.empty(length, dtype=np.int64)
    n_annotated = int(is_annotated.sum())
    middle[is_annotated] = annotated[:n_annotated]
    middle[~is_annotated] = plain[: length - n_annotated]
    occurrences = np.concatenate([np.arange(switch), middle])
    counts = np.bincount(occurrences[kept[occurrences]], minlength=n)
    ran_out = "annotated documents" if n_annotated == len(annotated) else "plain documents"
    return occurrences, {
        "start_window": enrichment.start_window,
        "share": enrichment.share,
        "max_repeats": enrichment.max_repeats,
        "switch_document": int(switch),
        "documents": length,
        "annotated": n_annotated,
        "plain": length - n_annotated,
        "plain_unused": int(len(plain) - (length - n_annotated)),
        "repeats": int(np.maximum(counts - 1, 0).sum()),
        "repeated_documents": int((counts > 1).sum()),
        "max_occurrences": int(counts.max()) if n else 0,
        "ended_by": ran_out,
    }


class WindowIndex:
    """Windows of one arm's global stream (see the module docstring); ``len(index)`` is the window count."""

    def __init__(self, dense_rows: np.ndarray, windows: np.ndarray, meta: dict, directory: Path | None = None):
        self.dense_rows, self.windows, self.meta, self.directory = dense_rows, windows, meta, directory

    def __len__(self) -> int:
        return len(self.windows)

    def __reduce__(self):
        if self.directory is not None:  # dataloader workers reopen the memory maps instead of copying them
            return (WindowIndex.load, (self.directory,))
        return (WindowIndex, (self.dense_rows, self.windows, self.meta))

    @property
    def nbytes(self) -> int:
        return int(self.windows.nbytes + self.dense_rows.nbytes)

    @classmethod
    def build(
        cls, inputs: StreamInputs, layout: Layout, enrichment: Enrichment | None = None, dropped_reason: str = ""
    ) -> WindowIndex:
        """The index of the stream ``inputs`` describes (with ``enrichment``'s midtraining stream when given)."""
        table = layout_windows(inputs.tokens, inputs.annotated, inputs.reserve, layout)
        occurrences, midtraining = np.arange(len(inputs.tokens)), None
        if enrichment is not None and enrichment.start_window < len(table.start):
            before = table.emission[: enrichment.start_window]
            switch = int(before.max()) + 1 if len(before) else 0
            occurrences, midtraining = enriched_occurrences(inputs, switch, enrichment)
            table = layout_windows(
                inputs.tokens[occurrences], inputs.annotated[occurrences], inputs.reserve[occurrences], layout
            )
        rows = np.asarray(inputs.rows, dtype=np.int64)[occurrences]
        own = table.offset == OWN
        start = np.where(own, rows[np.where(own, table.start, 0)], table.start)
        windows = np.zeros(len(start), dtype=_window_dtype(int(start.max(initial=0)), layout.plain_capacity))
        windows["start"], windows["offset"], windows["length"] = start, table.offset, table.length
        dense_rows = rows[table.dense].astype(_row_dtype(int(rows.max(initial=0))))
        tokens = inputs.tokens[occurrences]
        own_documents = tokens[table.start[own]] - 1  # an own window's start is still its stream position here
        dropped = int(np.count_nonzero(tokens == 0))
        meta = {
            "format": INDEX_FORMAT,
            "windows": len(windows),
            "own_windows": int(own.sum()),
            "documents": int(np.count_nonzero(tokens)),
            "document_tokens": int(tokens.sum()),
            "dropped": {dropped_reason: dropped} if dropped_reason else {},
            "truncated_tokens": int(np.maximum(own_documents - layout.max_document_tokens, 0).sum()),
            "midtraining": midtraining,
        }
        return cls(dense_rows, windows, meta)

    def save(self, directory: Path) -> None:
        """Write the arrays, then ``index.json`` last (its presence marks a complete index)."""
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "windows.npy", self.windows)
        np.save(directory / "dense_rows.npy", self.dense_rows)
        (directory / META_FILE).write_text(json.dumps(self.meta, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> WindowIndex:
        """The index in ``directory``, its arrays memory-mapped (read-only, shared through the page cache)."""
        directory = Path(directory)
        meta = json.loads((directory / META_FILE).read_text())
        windows = np.load(directory / "windows.npy", mmap_mode="r")
        dense_rows = np.load(directory / "dense_rows.npy", mmap_mode="r")
        return cls(dense_rows, windows, meta, directory)


def _row_dtype(largest: int):
    return np.uint32 if largest < 2**32 else np.int64


def _window_dtype(largest_start: int, plain_capacity: int) -> np.dtype:
    """Packed record: ``start`` (row or dense index), ``offset`` (token, or ``OWN``), ``length`` (tokens)."""
    length = np.uint16 if plain_capacity < 2**16 else np.uint32
    return np.dtype([("start", _row_dtype(largest_start)), ("offset", np.int32), ("length", length)])


def index_key_name(key: dict[str, Any]) -> str:
    """The folder name of the index ``key`` describes."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def load_or_build(directory: str | Path, key: dict[str, Any], build) -> WindowIndex:
    """The index ``key`` names under ``directory``: loaded when a complete one is there, else built by ``build()``
    in this process while a file lock keeps every other process (of this node or another on the same file system)
    waiting, written to a temporary folder and renamed into place, then loaded."""
    from filelock import FileLock

    directory = Path(directory)
    target = directory / index_key_name(key)
    if (target / META_FILE).is_file():
        return WindowIndex.load(target)
    directory.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / META_FILE).is_file():
            began = time.perf_counter()
            index = build()
            index.meta |= {
                "key": key,
                "build_seconds": round(time.perf_counter() - began, 3),
                "built_by": f"{socket.gethostname()}:{os.getpid()}",
            }
            staging = directory / f".{target.name}.{os.getpid()}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            index.save(staging)
            os.replace(staging, target)
            logger.info(
                "window index: %d windows in %.2f s, %.1f bytes per window, in %s",
                len(index), index.meta["build_seconds"], index.nbytes / max(len(index), 1), target,
            )  # fmt: skip
    return WindowIndex.load(target)
