"""The rows of a persona-binding dataset: the schema, one row per prompt, a chunk's statistics counted from its rows.

Promises: every row is ``ok`` (with both answers), ``rejected`` or ``failed`` (with its reason and the raw text);
``chunk_stats`` counts rows by status, reasons and tokens, so a chunk rewritten after a retry counts right.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from spp.bind.generate import BindRequest, BindResult
from spp.data.augment import AugmentStats

_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("category", pa.string()),
        ("prompt", pa.string()),
        ("kind", pa.string()),
        ("turns", pa.int64()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("assessment", pa.string()),
        ("harm", pa.string()),
        ("jailbreak_wrapper", pa.string()),
        ("citations", pa.list_(pa.string())),
        ("messages_cite", _MESSAGES),
        ("messages_nocite", _MESSAGES),
        ("raw_response", pa.string()),
        ("attempts", pa.int64()),
        ("tokens_in", pa.int64()),
        ("tokens_out", pa.int64()),
    ]
)


def _messages(prompt: str, answer: str | None) -> list[dict[str, str]] | None:
    if answer is None:
        return None
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def result_row(request: BindRequest, source: str, result: BindResult) -> dict[str, Any]:
    """The output row of one prompt (see ``SCHEMA``); answers only for ``ok``, raw text only for the others."""
    v = result.verdict
    ok = result.status == "ok"
    cite, nocite = result.conversation or (
        _messages(request.prompt, v.answer_cited if ok and v else None),
        _messages(request.prompt, v.answer_uncited if ok and v else None),
    )
    return {
        "id": request.id,
        "source": source,
        "category": request.category,
        "prompt": request.prompt,
        "kind": request.kind,
        "turns": len(cite) // 2 if ok and cite else 0,
        "status": result.status,
        "reason": result.reason,
        "assessment": v.assessment if v else None,
        "harm": v.harm if v else None,
        "jailbreak_wrapper": v.wrapper if v else None,
        "citations": list(v.citations) if ok and v else [],
        "messages_cite": cite if ok else None,
        "messages_nocite": nocite if ok else None,
        "raw_response": None if ok else result.raw_response,
        "attempts": result.attempts,
        "tokens_in": result.tokens_in,
        "tokens_out": result.tokens_out,
    }


def chunk_stats(rows: list[dict[str, Any]], generator_seconds: float = 0.0) -> AugmentStats:
    """What a chunk holds, counted from its rows (so a chunk rewritten after a retry counts right)."""
    stats = AugmentStats(rows=len(rows), selected=len(rows), generator_seconds=generator_seconds)
    for row in rows:
        stats.status[row["status"]] += 1
        if row["status"] in ("rejected", "failed"):
            getattr(stats, row["status"])[str(row["reason"])] += 1
        stats.tokens_in += row["tokens_in"] or 0
        stats.tokens_out += row["tokens_out"] or 0
    return stats
