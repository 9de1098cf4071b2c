"""No run writes into what it reads: an output equal to an input, inside one, or holding one is refused."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError


def _local_path(value: str | os.PathLike | None) -> Path | None:
    """The local path ``value`` names (a glob: its folder), resolved; ``None`` for a Hub id or nothing local."""
    if not value:
        return None
    text = str(value)
    if any(c in text for c in "*?["):
        text = text[: min(text.index(c) for c in "*?[" if c in text)].rsplit("/", 1)[0] or "."
    path = Path(text).expanduser()
    return path.resolve() if path.exists() else None


def check_not_in_place(outputs: Iterable[Path], inputs: Iterable[Any], field: str) -> None:
    """Refuse an output equal to an input, inside an input folder, or holding an input (``SppConfigError``)."""
    sources = [(value, p) for value in inputs if (p := _local_path(value)) is not None]
    for output in outputs:
        out = output.expanduser().resolve()
        for value, source in sources:
            if out == source:
                where = "is the input"
            elif out.is_relative_to(source) and source.is_dir():
                where = "is inside the input"
            elif source.is_relative_to(out):
                where = "holds the input"
            else:
                continue
            raise SppConfigError(
                f"{output} {where} {value}: writing there would change what this run reads (nothing was changed)",
                field=field,
                fix="write the output to its own new folder",
            )
