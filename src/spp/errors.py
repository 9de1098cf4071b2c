"""Errors a user can act on.

``SppConfigError`` is raised for bad input (a recipe, a constitution, a persona, a data file). The CLI turns it
into one paragraph on stderr and exit code 2, without a traceback; library callers get the exception.
"""

from __future__ import annotations

from pathlib import Path


class SppConfigError(ValueError):
    """Bad user input, with where it is (``source``: a file, maybe with a line), what (``field``) and how to fix it."""

    def __init__(self, message: str, *, source: str | Path | None = None, field: str | None = None, fix: str = ""):
        self.source = str(source) if source is not None else None
        self.field = field
        self.fix = fix
        self.detail = message
        super().__init__(self._paragraph())

    def _paragraph(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.field:
            where.append(f"field '{self.field}'")
        text = (": ".join(where) + ": " if where else "") + self.detail.rstrip(".") + "."
        if self.fix:
            text += " " + self.fix.rstrip(".") + "."
        return text
