"""The injection schedule: when reflections are in the data, as a function of tokens consumed.

"Tokens consumed" is the position in the one global stream of packed windows: window ``k`` is consumed after
``k * seq_len`` training tokens, whatever the number of GPUs, so the schedule is identical on 1 or 512 GPUs and the
decision for each document is a pure function of ``(seed, doc id, window index)``.

Training has a pretraining phase ``[0, M)`` and, optionally, a midtraining phase ``[M, end)`` (by default the LR
decay). An arm says in which phases reflections appear; ``start_tokens`` delays the pretraining-phase injection
(0 = token zero) and ``ramp_tokens`` phases it in: over the ramp, a growing, seeded fraction of the documents that
carry a reflection get it.
"""

from __future__ import annotations

from dataclasses import dataclass

from spp.persona.render import unit_draw


@dataclass(frozen=True)
class InjectionSchedule:
    """Reflections in the pretraining and/or midtraining phase, from ``start_tokens``, ramped over ``ramp_tokens``."""

    pretraining: bool = False
    midtraining: bool = False
    start_tokens: int = 0
    ramp_tokens: int = 0
    midtraining_start_tokens: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.start_tokens < 0 or self.ramp_tokens < 0:
            raise ValueError("start_tokens and ramp_tokens must be >= 0")
        if self.midtraining and not self.pretraining and self.midtraining_start_tokens is None:
            raise ValueError("an arm with reflections only in midtraining needs midtraining_start_tokens")

    def phase(self, tokens: int) -> str:
        """``"midtraining"`` from ``midtraining_start_tokens`` on, else ``"pretraining"``."""
        mid = self.midtraining_start_tokens
        return "midtraining" if mid is not None and tokens >= mid else "pretraining"

    def active_fraction(self, tokens: int) -> float:
        """Fraction of reflection-carrying documents that get their reflection at this point (0, ramping, or 1)."""
        if self.phase(tokens) == "midtraining":
            if not self.midtraining:
                return 0.0
            onset = self.start_tokens if self.pretraining else self.midtraining_start_tokens
        else:
            if not self.pretraining or tokens < self.start_tokens:
                return 0.0
            onset = self.start_tokens
        if self.ramp_tokens == 0:
            return 1.0
        return min(1.0, (tokens - onset) / self.ramp_tokens)

    def reflects(self, doc_id: str, tokens: int) -> bool:
        """Whether document ``doc_id``, landing at ``tokens`` consumed, carries its reflection."""
        fraction = self.active_fraction(tokens)
        return fraction >= 1.0 or (fraction > 0.0 and unit_draw(self.seed, doc_id, "ramp") < fraction)

    def describe(self) -> str:
        """One line for the training log."""
        phases = [p for p, on in (("pretraining", self.pretraining), ("midtraining", self.midtraining)) if on]
        mid = self.midtraining_start_tokens
        return (
            f"reflections in: {', '.join(phases) or 'no phase'}; pretraining-phase injection from token "
            f"{self.start_tokens:,}"
            + (f", ramped over {self.ramp_tokens:,} tokens" if self.ramp_tokens else "")
            + (f"; midtraining from token {mid:,}" if mid is not None else "; no midtraining phase")
        )
