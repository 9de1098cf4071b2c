"""Where windows fall: the ``Layout`` rules (capacity, which document opens a window, which block can never be
inserted) and seeking a window stream from token counts alone (``locate_window``, ``count_windows``), so that a
resumed run starts at the window it stopped at without reading a token. See ``spp.pretrain.packing`` for the layouts.
"""

from __future__ import annotations

from dataclasses import dataclass

from spp.errors import SppConfigError
from spp.pretrain.documents import LAYOUTS, SKIP_OVER_BUDGET, SKIP_PAUSE_OUTSIDE


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
