"""An arm of the augmented corpus as a PyTorch ``IterableDataset`` of packed windows.

The corpus, its order (held-out rows first, then the training order) and the token cache are
``spp.pretrain.corpus``; the held-out windows ``spp.pretrain.heldout``. Every arm packs the same document sequence;
ranks and dataloader workers each keep a disjoint, deterministic share of the one global window stream: global
window ``k`` goes to rank ``k % world_size``, so the union over ranks is the single-process stream and global step
``s`` consumes windows ``[s*G, (s+1)*G)`` for a global batch of ``G`` windows.

A pre-tokenized corpus on disk (the token cache) is read through its window index (``spp.pretrain.window_index``):
built once from the token counts, it tells every rank and worker where each of its own windows starts, so each
builds only its own windows, and resuming at step ``s`` starts at window ``s*G`` by a lookup. Other corpora
(streamed, tokenized on the fly) go through the streaming packer: every rank packs the whole stream and keeps its
share, and a resume packs and discards the earlier windows. Both give exactly the same windows.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from spp.errors import SppConfigError
from spp.pretrain.corpus import (  # noqa: F401 - re-exported: the corpus side moved to spp.pretrain.corpus
    CACHE_FORMAT,
    CACHE_INFO,
    cached_tokenized_corpus,
    load_corpus,
    split_and_order,
    token_dtype,
    tokenize_corpus,
    tokenized_features,
)
from spp.pretrain.documents import (
    PLACEMENT_PREFIX,
    SKIP_OVER_BUDGET,
    SKIP_PAUSE_OUTSIDE,
    Document,
)
from spp.pretrain.indexed import IndexedWindows, TokenTable
from spp.pretrain.items import PACKING_COUNTS, window_item
from spp.pretrain.layout import Layout
from spp.pretrain.packing import PackingStats, Window, pack_windows
from spp.pretrain.window_index import Enrichment, StreamInputs, WindowIndex, load_or_build

logger = logging.getLogger("spp.pretrain")
__all__ = ["PACKING_COUNTS", "DocumentStream", "PackedArm", "collate_windows", "window_item"]


_DOCUMENT_COLUMNS = ("id", "doc_ids", "pause", "block_ids", "end_pause", "end_block_ids", "harm_score")


@dataclass
class DocumentStream:
    """Re-iterable ``Document``s of a dataset, read ``batch_size`` rows at a time (``tokenize`` for raw rows)."""

    dataset: Any
    tokenize: Any = None
    batch_size: int = 256

    @property
    def seekable(self) -> bool:
        """Whether the stream can be indexed (``stream_inputs``): a pre-tokenized, on-disk (map-style) dataset."""
        columns = getattr(self.dataset, "column_names", None) or []
        return self.tokenize is None and hasattr(self.dataset, "num_rows") and "doc_ids" in columns

    def stream_tokens(self, view) -> Any:
        """Per document, in stream order, the tokens it adds to the window stream of ``view`` (an ``ArmView``):
        ``n_tokens + 1`` (EOS) where the arm keeps it, else 0. Reads the ``n_tokens`` and ``harm_score`` columns
        (``doc_ids`` lengths for a cache built before ``n_tokens`` existed), never the token lists themselves."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        has_counts = "n_tokens" in self.dataset.column_names
        if not has_counts:
            logger.info("token cache without n_tokens: reading doc_ids lengths to locate the resume window")
        counts = self._column(
            "n_tokens" if has_counts else "doc_ids", pc.list_value_length if not has_counts else None
        )
        scores = self._column("harm_score", lambda c: pc.fill_null(pc.cast(c, pa.float64()), float("nan")))
        return np.where(view.keeps_scores(scores.astype(np.float64)), counts.astype(np.int64) + 1, 0)

    def layout_inputs(self) -> tuple[Any, Any]:
        """``(annotated, reserve)`` per document in stream order: what the layout reads (see ``Document``)."""
        import numpy as np
        import pyarrow.compute as pc

        annotated = np.zeros(len(self.dataset), dtype=bool)
        reserve = np.zeros(len(self.dataset), dtype=np.int64)
        for prefix in PLACEMENT_PREFIX.values():
            if f"{prefix}pause" not in self.dataset.column_names:
                continue
            annotated |= self._column(f"{prefix}pause").astype(np.int64) >= 0
            reserve = np.maximum(reserve, self._column(f"{prefix}block_ids", pc.list_value_length).astype(np.int64))
        return annotated, reserve

    def block_audit(self, placement: str, max_document_tokens: int, budget: int) -> dict[str, int]:
        """Counts over every document: blocks in ``placement``, and those packing cannot insert, by reason."""
        import numpy as np
        import pyarrow.compute as pc

        prefix = PLACEMENT_PREFIX[placement]
        pauses = self._column(f"{prefix}pause").astype(np.int64)
        lengths = self._column(f"{prefix}block_ids", pc.list_value_length).astype(np.int64)
        has = pauses >= 0
        over = has & (lengths > budget)
        outside = has & ~over & (pauses > max_document_tokens)
        return {"blocks": int(has.sum()), SKIP_OVER_BUDGET: int(over.sum()), SKIP_PAUSE_OUTSIDE: int(outside.sum())}

    def _column(self, name: str, transform=None) -> Any:
        """Column ``name`` in stream order as numpy (``transform`` applied to the Arrow column first).

        Takes the whole column from the Arrow table and applies the dataset's row order (``select``/``shuffle``
        indices) in numpy: datasets' row-indexed path took ~5 s per million shuffled rows here, this ~30 ms.
        """
        import numpy as np

        dataset = self.dataset
        table, indices = getattr(dataset, "data", None), getattr(dataset, "_indices", False)
        if table is None or indices is False:  # not an Arrow-backed Dataset as we know it: the public path
            table, indices = dataset.select_columns([name]).with_format("arrow")[:], None
        column = table.column(name)
        values = np.asarray((transform(column) if transform else column).to_numpy())
        return values if indices is None else values[indices.column(0).to_numpy()]

    def row_order(self) -> Any:
        """The table row (of ``self.dataset.data``) of each document, in stream order."""
        import numpy as np

        indices = getattr(self.dataset, "_indices", None)
        if indices is None:
            return np.arange(len(self.dataset), dtype=np.int64)
        return np.asarray(indices.column(0).to_numpy(), dtype=np.int64)

    def stream_inputs(self, view) -> StreamInputs:
        """What the window index reads, per document in stream order (token counts and flags, never tokens)."""
        annotated, reserve = self.layout_inputs()
        return StreamInputs(self.row_order(), self.stream_tokens(view), annotated, reserve)

    def token_table(self) -> TokenTable:
        return TokenTable(self.dataset)

    def __iter__(self) -> Iterator[Document]:
        for batch in self.dataset.iter(batch_size=self.batch_size):
            if self.tokenize is not None:
                batch = self.tokenize(batch)
            for i in range(len(batch["id"])):
                yield Document.from_row({k: batch[k][i] for k in _DOCUMENT_COLUMNS if k in batch})


def collate_windows(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack window items into a batch (all windows have the same length: no padding needed)."""
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


class PackedArm(torch.utils.data.IterableDataset):
    """The packed window stream of one arm. Iterating yields this rank's (and worker's) model inputs
    (``spp.pretrain.items.item_tensors``).

    ``documents`` is a ``DocumentStream``. When it is seekable (pre-tokenized, on disk), the arm reads it through a
    window index: built in memory, or with ``index_dir`` (a folder beside the token cache) once for every process
    (``window_index.load_or_build``); ``index_key`` adds what identifies the data beyond the dataset's fingerprint.
    ``enrichment`` (an ``Enrichment``) turns the midtraining phase into the reflection-enriched stream and needs the
    index. One pass over the corpus: after ``set_epoch(e)`` with ``e > 0`` it yields nothing, so a run that outlasts
    its corpus stops instead of replaying data at the wrong schedule position.
    """

    def __init__(
        self,
        documents,
        view,
        *,
        seq_len: int,
        reflection_budget: int,
        eos_id: int,
        pad_id: int,
        layout: str = "dense",
        plain_fill: str = "reserve",
        index_dir: str | Path | None = None,
        index_key: dict | None = None,
        enrichment: Enrichment | None = None,
    ):
        self.documents, self.view = documents, view
        self.seq_len, self.reflection_budget, self.eos_id, self.pad_id = seq_len, reflection_budget, eos_id, pad_id
        self.layout = Layout(layout, seq_len - reflection_budget, reflection_budget, plain_fill)
        self.index_dir, self.index_key, self.enrichment = index_dir, index_key or {}, enrichment
        self.rank, self.world_size, self.batch_size, self.epoch = 0, 1, 1, 0
        self.first_window = self.start_window = 0
        self._indexed: IndexedWindows | None = None
        if enrichment is not None and not self.indexed:
            raise SppConfigError(
                "midtraining_annotated_share needs the window index, which needs a pre-tokenized corpus on disk",
                field="token_cache_dir",
                fix="set token_cache_dir (and streaming: false)",
            )

    @property
    def indexed(self) -> bool:
        """Whether this arm reads its windows through a window index (a seekable ``DocumentStream``)."""
        return isinstance(self.documents, DocumentStream) and self.documents.seekable

    def key(self) -> dict:
        """What the window index depends on: the documents (dataset fingerprint and order), layout and data view."""
        dataset = self.documents.dataset
        return {
            "dataset": getattr(dataset, "_fingerprint", None),
            "rows": len(dataset),
            "layout": [self.layout.layout, self.layout.capacity, self.layout.budget, self.layout.plain_fill],
            "drops": self.view.harm_threshold if self.view.arm.filter_harm else None,
            "enrichment": vars(self.enrichment) if self.enrichment else None,
        } | self.index_key

    def window_index(self) -> WindowIndex:
        """The window index (built, or loaded from ``index_dir``, on first use)."""
        return self._windows().index

    def _windows(self) -> IndexedWindows:
        if self._indexed is None:
            build = lambda: WindowIndex.build(  # noqa: E731
                self.documents.stream_inputs(self.view), self.layout, self.enrichment, self.view.drops_as or ""
            )
            index = load_or_build(self.index_dir, self.key(), build) if self.index_dir else build()
            self._indexed = IndexedWindows(
                index, self.documents.token_table(), self.view, layout=self.layout, seq_len=self.seq_len,
                eos_id=self.eos_id, pad_id=self.pad_id,
            )  # fmt: skip
        return self._indexed

    def resume_at(self, window_index: int) -> PackedArm:
        """A copy whose stream starts at window ``window_index`` of this run's stream, i.e. global window
        ``first_window + window_index`` (a resumed run's first unseen window)."""
        if window_index < 0:
            raise ValueError(f"window_index must be >= 0, not {window_index}")
        if self.indexed:
            self._windows()  # built once, shared by the copies
        resumed = copy.copy(self)
        resumed.start_window = self.first_window + window_index
        return resumed

    def continue_from(self, window_index: int) -> PackedArm:
        """A copy for a run that continues this stream from global window ``window_index`` (the windows before it
        were trained by the run it starts from): its stream, and its resumes, start there."""
        continued = self.resume_at(window_index)
        continued.first_window = window_index
        return continued

    def windows(self, stats: PackingStats | None = None) -> Iterator[Window]:
        """The global window stream (every rank's windows) from ``start_window``, with ``stats`` filled as it goes
        (counting only the windows read from there; rows the arm drops are counted when a stream read from window 0
        reaches its end)."""
        if self.indexed:
            return self._indexed_windows(stats)
        if self.start_window:
            logger.info("stream resumes at window %d by packing the windows before it", self.start_window)
        windows = pack_windows(
            self.documents,
            self.view,
            seq_len=self.seq_len,
            reflection_budget=self.reflection_budget,
            eos_id=self.eos_id,
            pad_id=self.pad_id,
            layout=self.layout.layout,
            plain_fill=self.layout.plain_fill,
            stats=stats,
        )
        return (w for w in windows if w.index >= self.start_window)

    def _indexed_windows(self, stats: PackingStats | None) -> Iterator[Window]:
        indexed = self._windows()
        if self.start_window:
            logger.info("stream resumes at window %d: looked up in the window index", self.start_window)
        for k in range(self.start_window, len(indexed)):
            yield indexed.window(k, stats)
        if stats is not None and self.start_window == 0:
            stats.dropped.update(indexed.index.meta.get("dropped", {}))

    def count_windows(self) -> int | None:
        """Windows in the whole stream (from window 0), from the window index; ``None`` when not indexed."""
        return len(self._windows()) if self.indexed else None

    def shard(self, rank: int, world_size: int, batch_size: int = 1) -> PackedArm:
        """A copy that yields only rank ``rank``'s windows; ``batch_size`` lets dataloader workers split batches."""
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        if self.indexed:
            self._windows()  # built once, shared by the copies
        shard = copy.copy(self)
        shard.rank, shard.world_size, shard.batch_size = rank, world_size, batch_size
        return shard

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _worker(self) -> tuple[int, int]:
        info = torch.utils.data.get_worker_info()
        return (info.num_workers, info.id) if info is not None else (1, 0)

    def _mine(self, k: int, workers: int, worker: int) -> bool:
        """Whether global window ``k`` is this rank's and this worker's: rank ``k % world_size``; within a rank,
        worker ``w`` of ``n`` takes local batches ``j % n == w``, numbered from the stream's start (so worker 0 yields
        a resumed run's first batch)."""
        if k % self.world_size != self.rank:
            return False
        return ((k - self.start_window) // self.world_size // self.batch_size) % workers == worker

    def local_indices(self) -> Iterator[int]:
        """Global indices of this rank's (and worker's) windows, from the window index's length alone."""
        workers, worker = self._worker()
        if self.start_window:
            logger.info("stream resumes at window %d: looked up in the window index", self.start_window)
        first = self.start_window + (self.rank - self.start_window) % self.world_size
        for k in range(first, len(self._windows()), self.world_size):
            if self._mine(k, workers, worker):
                yield k

    def local_windows(self) -> Iterator[Window]:
        """This rank's (and worker's) windows as ``Window``s."""
        if self.epoch > 0:
            logger.warning("the corpus is exhausted (one pass per run): no more windows")
            return
        if self.indexed:
            indexed = self._windows()
            yield from (indexed.window(k) for k in self.local_indices())
            return
        workers, worker = self._worker()
        yield from (w for w in self.windows() if self._mine(w.index, workers, worker))

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        if self.indexed and self.epoch == 0:
            indexed = self._windows()
            return (indexed.item(k) for k in self.local_indices())
        return (window_item(w, self.view.loss_on) for w in self.local_windows())
