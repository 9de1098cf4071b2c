"""Corpus identity: what a chunked job checks so that a changed corpus never mixes with rows generated from the old one.

A job records the corpus's row count (``job.json``; for a stream, when a shard has read it to the end) and, in every
chunk it commits, a fingerprint of the input rows of that chunk's range (``range_fingerprint``: the id, text and
harm-score columns, in order). A rerun recomputes the fingerprint of every range it reads against the committed
chunk; both are computed from rows the job reads anyway, so the check costs one hash over the text, nothing more.

Promises: ``describe_change`` names what changed in a range, from the committed chunk's own ids and texts (rows
inserted or removed before a row, a row's text edited, rows appended at the end, harm scores changed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any


def sha256_json(data: Any) -> str:
    """sha256 of ``data`` as sorted, unescaped JSON: a job's recipe fingerprint, a constitution's hash."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _update(h: Any, value: Any) -> None:
    if value is None:
        h.update(b"\x00")
        return
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else repr(value).encode()
    h.update(b"\x01" + len(data).to_bytes(8, "little") + data)


def range_fingerprint(batch: dict[str, Sequence], columns: Sequence[str]) -> str:
    """A 128-bit hash of ``columns`` of ``batch`` (a dict of column lists), in row order.

    Columns absent from ``batch`` are skipped (a corpus without an id column hashes its text only).
    """
    h = hashlib.blake2b(digest_size=16)
    for name in columns:
        if name not in batch:
            continue
        h.update(name.encode() + b"\x02")
        for value in batch[name]:
            _update(h, value)
    return h.hexdigest()


def ids_fingerprint(ids: Sequence[str]) -> str:
    """The hash of a chunk's output ids, in order (checked by the merge)."""
    return range_fingerprint({"id": ids}, ["id"])


def describe_change(
    first_row: int,
    old_ids: Sequence[str],
    new_ids: Sequence[str],
    old_texts: Sequence[str | None],
    new_texts: Sequence[str | None],
) -> str:
    """A sentence saying how a range of the corpus differs from what the job saw (``first_row``: its first row)."""
    for offset, (old, new) in enumerate(zip(old_ids, new_ids, strict=False)):
        if old != new:
            where = f"row {first_row + offset} now has id {new!r}, the job wrote {old!r} there"
            if new in old_ids:
                return f"{where}: rows were removed before it"
            if old in new_ids:
                return f"{where}: rows were inserted before it"
            return f"{where}: rows were inserted, removed or replaced at or before it"
    if len(new_ids) > len(old_ids):
        return f"{len(new_ids) - len(old_ids)} rows were added after row {first_row + len(old_ids) - 1}"
    if len(new_ids) < len(old_ids):
        return f"{len(old_ids) - len(new_ids)} rows were removed after row {first_row + len(new_ids) - 1}"
    for offset, (old, new) in enumerate(zip(old_texts, new_texts, strict=True)):
        if old != new:
            return f"the text of id {old_ids[offset]!r} (row {first_row + offset}) was edited"
    return "the harm scores (or another input column) changed"
