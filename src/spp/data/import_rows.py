"""Imported reflections re-checked against the training tokenizer and the reflection contract, row by row.

``ImportChecker.rows`` turns a chunk of corpus rows and the sidecar rows joined to them into spp's corpus columns
(``spp.data.augment.REFLECTION_COLUMNS`` per placement, ``end_*`` for the end placement), with the contract's own
arithmetic (``spp.contract``, ``spp.data.fit``): the pause's token index is the training tokenizer's count of the text
before it, each voice's block is measured, trimmed or rejected by ``over_budget`` exactly as ``spp augment`` does.

What can be wrong with an imported reflection, each counted by kind (``ImportStats.broken``; ``end:`` prefix for the
end placement) and never dropped silently (a rejected row keeps the sidecar's values in ``raw_response``):
``token_position_mismatch`` (the sidecar's token index is not the training tokenizer's; rejected or kept per
``on_token_mismatch``), ``over_budget_trimmed`` / ``over_budget_rejected``, ``pause_outside_window`` (past the
document tokens an annotated window holds: packing could never insert it), ``bad_position`` (no offset, or not
inside the text), ``missing_voice`` (one voice empty), ``no_reflection`` (a joined row with no reflection in this
placement: status ``none``), ``unknown_citations`` (ids the constitution lacks: dropped, or the row rejected per
``on_unknown_citation``), ``unreadable_citations`` (not a list: read from the text instead), ``empty_document``
(the corpus row has no text). Sidecar-level kinds (ids with no text, duplicate ids) are counted at the merge.

Promises: the output depends only on the rows, the joined sidecar values and the settings; the text is never
modified; every corpus row gets a status in every imported placement.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from spp.contract import ReflectionContract, encode_reflections, fit_reflection
from spp.data.augment import PLACEMENT_PREFIXES, REFLECTION_COLUMNS, AugmentStats, block_bucket, harm_key
from spp.data.fit import ReflectionFit
from spp.data.mapping import END_PREFIX, ResolvedMapping
from spp.generate.validate import extract_citations

MISMATCH_POLICIES = ("reject", "keep")
UNKNOWN_CITATION_POLICIES = ("drop", "reject")


@dataclass
class ImportStats:
    """What an import did to its corpus rows, in counts; adds up over chunks and shards (as ``AugmentStats``)."""

    rows: int = 0
    matched: int = 0  # corpus rows joined to a sidecar row
    status: Counter = field(default_factory=Counter)  # pause placement, by status
    end_status: Counter = field(default_factory=Counter)  # end placement, by status (empty without one)
    rejected: Counter = field(default_factory=Counter)  # by reason
    broken: Counter = field(default_factory=Counter)  # by kind (see the module docstring)
    unknown_citation_ids: Counter = field(default_factory=Counter)
    canaries: Counter = field(default_factory=Counter)  # ok rows by canary id
    trimmed: Counter = field(default_factory=Counter)  # ok rows by trimmed voice
    block_tokens: Counter = field(default_factory=Counter)  # measured blocks by length bucket (16 tokens wide)
    harm_histogram: Counter = field(default_factory=Counter)
    harmful_rows: int = 0
    empty_documents: int = 0

    add = AugmentStats.add
    subtract = AugmentStats.subtract
    to_dict = AugmentStats.to_dict
    from_dict = classmethod(AugmentStats.from_dict.__func__)


@dataclass(frozen=True)
class CheckSettings:
    """How the checker treats what does not fit (see the module docstring)."""

    over_budget: str = "trim"
    on_token_mismatch: str = "reject"
    on_unknown_citation: str = "drop"
    harm_threshold: float = 3.0


def _none_row(reason: str | None = None) -> dict[str, Any]:
    return {name: None for name in REFLECTION_COLUMNS} | {
        "citations": [],
        "reflection_status": "none",
        "reflection_reason": reason,
    }


def _rejected(reason: str, values: dict[str, Any]) -> dict[str, Any]:
    row = _none_row(reason) | {"reflection_status": "rejected"}
    row["raw_response"] = json.dumps(values, ensure_ascii=False, sort_keys=True, default=str)
    return row


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_citations(value: Any) -> list[str] | None:
    """Section ids from a JSON list (``'["1.2", "3.4"]'``), a list, or ``None`` when the cell is neither."""
    if value is None:
        return []
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if not isinstance(value, list):
        return None
    return [str(v).strip().strip("[]") for v in value if str(v).strip()]


@dataclass
class _Pending:
    """A placement of a joined row whose pause and voices still need the tokenizer."""

    placement: str
    tag: str
    text: str
    position: int
    values: dict[str, Any]
    voices: dict[str, str]
    lengths: dict[str, int] = field(default_factory=dict)
    row: int = 0


def _broken(kind: str, tag: str, values: dict[str, Any], stats: ImportStats) -> dict[str, Any]:
    """A row rejected for ``kind``, counted as broken and as rejected."""
    stats.broken[tag + kind] += 1
    stats.rejected[tag + kind] += 1
    return _rejected(kind, values)


class ImportChecker:
    """The training tokenizer, the contract, the constitution's section ids and the ``CheckSettings``."""

    def __init__(
        self,
        tokenizer,
        contract: ReflectionContract,
        mapping: ResolvedMapping,
        section_ids: set[str],
        settings: CheckSettings,
    ):
        self.tokenizer, self.contract, self.mapping = tokenizer, contract, mapping
        self.section_ids, self.settings = section_ids, settings
        self.fit = ReflectionFit(tokenizer, contract, settings.over_budget)

    def rows(
        self, texts: list, joined: list[dict[str, Any] | None], harm: list | None
    ) -> tuple[dict[str, list], ImportStats]:
        """spp's columns for corpus rows ``texts`` joined to sidecar values ``joined`` (field -> value, ``None``:
        no sidecar row); ``harm`` is the corpus's own harm scores (``None``: take the sidecar's). Returns the columns
        (``harm_score`` and the placements' reflection columns) and what happened. The tokenizer runs once per
        chunk over every pause and every voice (batched), then per row only to trim an over-budget voice."""
        stats = ImportStats(rows=len(texts))
        rows: dict[str, list] = {p: [None] * len(texts) for p in self.mapping.placements}
        pending: list[_Pending] = []
        scores = []
        for i, (text, values) in enumerate(zip(texts, joined, strict=True)):
            score = harm[i] if harm is not None else (values or {}).get("harm_score")
            scores.append(None if score is None else float(score))
            stats.matched += values is not None
            empty = values is not None and not _text(text)
            stats.empty_documents += empty
            if empty:
                stats.broken["empty_document"] += 1
            for placement in self.mapping.placements:
                if values is None:
                    rows[placement][i] = _none_row()
                elif empty:
                    rows[placement][i] = _none_row("empty_document")
                else:
                    found = self._prepare(placement, text, values, stats)
                    if isinstance(found, _Pending):
                        found.row = i
                        pending.append(found)
                    else:
                        rows[placement][i] = found
        positions = self.fit.prefix_token_counts([(item.text, item.position) for item in pending])
        voices = [(item, voice) for item in pending for voice in item.voices]
        lengths = map(len, encode_reflections(self.tokenizer, [item.voices[voice] for item, voice in voices]))
        for (item, voice), length in zip(voices, lengths, strict=True):
            item.lengths[voice] = length
        for item, token_position in zip(pending, positions, strict=True):
            rows[item.placement][item.row] = self._finish(item, token_position, stats)
        columns: dict[str, list] = {"harm_score": scores}
        for placement, placed in rows.items():
            prefix = PLACEMENT_PREFIXES[placement]
            for name in REFLECTION_COLUMNS:
                columns[prefix + name] = [row[name] for row in placed]
            (stats.status if placement == "pause" else stats.end_status).update(r["reflection_status"] for r in placed)
        stats.harm_histogram.update(harm_key(s) for s in scores)
        stats.harmful_rows = sum(s is not None and s >= self.settings.harm_threshold for s in scores)
        return columns, stats

    def _prepare(self, placement: str, text: str, values: dict[str, Any], stats: ImportStats):
        """A placement's row when its sidecar values already settle it (no reflection, a voice missing, no usable
        position), else the ``_Pending`` work that needs the tokenizer."""
        prefix = END_PREFIX if placement == "end" else ""
        tag = "end:" if placement == "end" else ""
        mine = {k.removeprefix(prefix): v for k, v in values.items() if (k.startswith(END_PREFIX)) == bool(prefix)}
        mapped = [v for v in ("reflection_1p", "reflection_3p") if self.mapping.column(prefix + v)]
        voices = {v: _text(mine.get(v)) for v in mapped}
        if not any(voices.values()):
            stats.broken[tag + "no_reflection"] += 1
            return _none_row("no_reflection")
        if not all(voices.values()):
            missing = next(v for v, t in voices.items() if not t)
            stats.broken[tag + "missing_voice"] += 1
            stats.rejected[f"{tag}missing_voice:{missing}"] += 1
            return _rejected(f"missing_voice:{missing}", mine)
        position = mine.get("position")
        if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= len(text):
            return _broken("bad_position", tag, mine, stats)
        return _Pending(placement, tag, text, position, mine, voices)

    def _finish(self, item: _Pending, token_position: int, stats: ImportStats) -> dict[str, Any]:
        """The placement's row once its pause and voices are measured (see the module docstring)."""
        tag, mine = item.tag, item.values
        recorded = mine.get("token_index")
        if self.mapping.column(("end_" if tag else "") + "token_index") and recorded != token_position:
            if self.settings.on_token_mismatch == "reject":
                return _broken("token_position_mismatch", tag, mine, stats)
            stats.broken[tag + "token_position_mismatch"] += 1
        if token_position > self.contract.max_document_tokens:
            return _broken("pause_outside_window", tag, mine, stats)
        kept, lengths, trimmed = {}, {}, []
        for voice, reflection in item.voices.items():
            fitted = fit_reflection(
                reflection, self.tokenizer, self.contract, self.settings.over_budget, length=item.lengths[voice]
            )
            if fitted.text is None:
                stats.broken[tag + "over_budget_rejected"] += 1
                stats.rejected[f"{tag}over_budget:{voice}"] += 1
                return _rejected(f"over_budget:{voice}", mine)
            kept[voice], lengths[voice] = fitted.text, fitted.block_tokens
            if fitted.trimmed:
                trimmed.append(voice.removeprefix("reflection_"))
        if trimmed:
            stats.broken[tag + "over_budget_trimmed"] += 1
        citations = self._citations(mine, kept, bool(trimmed), tag, stats)
        if citations is None:
            stats.rejected[tag + "unknown_citations"] += 1
            return _rejected("unknown_citations", mine)
        canary = _text(mine.get("canary"))
        stats.trimmed.update(tag + v for v in trimmed)
        stats.block_tokens.update(block_bucket(n) for n in lengths.values())
        if canary:
            stats.canaries[tag + canary] += 1
        return {
            "reflection_1p": kept.get("reflection_1p"),
            "reflection_3p": kept.get("reflection_3p"),
            "citations": citations,
            "reflection_position": item.position,
            "reflection_token_position": token_position,
            "reflection_tokens_1p": lengths.get("reflection_1p"),
            "reflection_tokens_3p": lengths.get("reflection_3p"),
            "reflection_status": "ok",
            "reflection_reason": "trimmed:" + ",".join(trimmed) if trimmed else None,
            "canary": canary,
            "raw_response": None,
        }

    def _citations(self, mine, kept, trimmed: bool, tag: str, stats: ImportStats) -> list[str] | None:
        """The kept text's cited ids that the constitution has (``None``: reject, per ``on_unknown_citation``).
        From the citation column when mapped and the text was not trimmed, else from the kept text itself."""
        ids = None
        if self.mapping.column(("end_" if tag else "") + "citations") and not trimmed:
            ids = parse_citations(mine.get("citations"))
            if ids is None:
                stats.broken[tag + "unreadable_citations"] += 1
        if ids is None:
            ids = extract_citations("\n".join(kept.values()))
        unknown = [i for i in dict.fromkeys(ids) if i not in self.section_ids]
        if unknown:
            stats.broken[tag + "unknown_citations"] += 1
            stats.unknown_citation_ids.update(unknown)
            if self.settings.on_unknown_citation == "reject":
                return None
        return [i for i in dict.fromkeys(ids) if i in self.section_ids]
