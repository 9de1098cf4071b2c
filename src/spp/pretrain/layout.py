"""Where documents go: the ``Layout`` rules (window capacities, which document opens a window, which block can never
be inserted). The streaming packer (``spp.pretrain.packing``) and the window index (``spp.pretrain.window_index``)
both read these rules, so they cannot disagree; a test checks that they give byte-identical windows.
"""

from __future__ import annotations

from dataclasses import dataclass

from spp.errors import SppConfigError
from spp.pretrain.documents import LAYOUTS, PLAIN_FILLS, SKIP_OVER_BUDGET, SKIP_PAUSE_OUTSIDE


@dataclass(frozen=True)
class Layout:
    """Where documents go: the ``layout`` rule over windows of ``capacity`` document tokens and ``budget`` block
    tokens (``capacity + budget = seq_len``; a window has ``seq_len + 1`` positions).

    ``plain_fill`` says what a window in which no annotated document starts holds: ``reserve`` (spp's default) keeps
    the budget free in every window, so such a window holds ``capacity`` document tokens and ends in padding;
    ``full`` fills it with ``seq_len + 1`` document tokens (no padding), as the SPP authors' compact stream. A window
    in which an annotated document starts holds at most ``capacity`` document tokens either way."""

    layout: str
    capacity: int
    budget: int
    plain_fill: str = "reserve"

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise SppConfigError(f"unknown layout {self.layout!r}", field="layout", fix=f"use one of {LAYOUTS}")
        if self.plain_fill not in PLAIN_FILLS:
            raise SppConfigError(
                f"unknown plain_fill {self.plain_fill!r}", field="plain_fill", fix=f"use one of {PLAIN_FILLS}"
            )

    @property
    def max_document_tokens(self) -> int:
        return self.capacity - 1

    @property
    def plain_capacity(self) -> int:
        """Document tokens of a window in which no annotated document starts."""
        return self.capacity + self.budget + 1 if self.plain_fill == "full" else self.capacity

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
