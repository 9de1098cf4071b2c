"""Prompt sources of a persona-binding set: local files or Hub datasets, each with a category and a share.

Promises: ``draw_prompts`` is a pure function of the sources' rows, ``num_prompts`` and ``seed``: each source's rows
are filtered (``where``), read (``prompt_column``; a list of chat messages gives its first user turn), drawn without
repetition by a seeded permutation, and the union is shuffled with the seed. Every prompt's id is the sha256 of its
category and text; a prompt seen twice is kept once and counted, an empty one is counted, none vanishes unreported.
A source with fewer usable rows than its share asks for is an error, not a silently smaller set.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.bind.prompts import CATEGORIES
from spp.bind.provenance import prompt_sha256
from spp.checks import check_values
from spp.errors import SppConfigError, check_local_path

logger = logging.getLogger("spp.bind")
LOCAL_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}


@dataclass(frozen=True)
class PromptSource:
    """One source. ``path``: a local ``.jsonl``/``.json``/``.parquet``/``.csv``/``.txt`` file (one prompt per line),
    a ``save_to_disk`` folder, or a Hub dataset id (with ``name``, ``split``, ``revision``, ``data_files``).
    ``where``: keep only rows whose columns equal these values. ``label``: its name in the ``source`` column."""

    path: str
    category: str
    share: float | None = None
    name: str | None = None
    split: str = "train"
    revision: str | None = None
    data_files: str | list[str] | None = None
    prompt_column: str = "prompt"
    where: dict[str, Any] | None = None
    label: str | None = None

    @classmethod
    def from_dict(cls, data: Any, index: int) -> PromptSource:
        where = f"sources[{index}]"
        if not isinstance(data, dict) or not {"path", "category"} <= set(data):
            raise SppConfigError("each source needs a 'path' and a 'category'", field=where)
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise SppConfigError(f"unknown keys {unknown}", field=where, fix=f"use {sorted(cls.__dataclass_fields__)}")
        source = cls(**data)
        check_values(source, prefix=f"{where}.")
        if source.category not in CATEGORIES:
            raise SppConfigError(f"category must be one of {CATEGORIES}", field=f"{where}.category")
        if source.share is not None and source.share <= 0:
            raise SppConfigError("share must be positive", field=f"{where}.share")
        check_local_path(str(source.path), f"{where}.path", what="prompt source")  # never sent to the Hub as an id
        for file in [source.data_files] if isinstance(source.data_files, str) else list(source.data_files or []):
            check_local_path(str(file), f"{where}.data_files", what="prompt file")
        return source

    @property
    def name_in_output(self) -> str:
        return self.label or self.path

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass
class DrawnPrompts:
    """The prompts of a set, in order, and what was left out (counted by source)."""

    ids: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    drawn: Counter = field(default_factory=Counter)
    duplicates: Counter = field(default_factory=Counter)
    empty: Counter = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.ids)


def _load(source: PromptSource):
    import datasets

    local = Path(source.path)
    if local.suffix == ".txt" and local.is_file():
        lines = local.read_text(encoding="utf-8").splitlines()
        return datasets.Dataset.from_dict({source.prompt_column: lines})
    if local.is_file():
        if local.suffix not in LOCAL_BUILDERS:
            raise SppConfigError(f"unknown file type {local.suffix!r}", source=local, fix="use .jsonl/.parquet/.txt")
        return datasets.load_dataset(LOCAL_BUILDERS[local.suffix], data_files=str(local), split="train")
    if local.is_dir():
        return datasets.load_from_disk(str(local))
    return datasets.load_dataset(
        source.path, name=source.name, split=source.split, revision=source.revision, data_files=source.data_files
    )


def prompt_text(value: Any) -> str:
    """A prompt from a cell: a string, or the first user turn of a list of chat messages."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        for message in value:
            if isinstance(message, dict) and message.get("role") == "user":
                return str(message.get("content") or "").strip()
    return ""


def read_source(source: PromptSource) -> list[str]:
    """Every prompt of ``source`` that passes ``where``, empty ones included (as ``""``), in source order."""
    data = _load(source)
    if source.prompt_column not in data.column_names:
        raise SppConfigError(
            f"no column {source.prompt_column!r} (columns: {data.column_names})",
            source=source.path,
            field="prompt_column",
        )
    for column, value in (source.where or {}).items():
        if column not in data.column_names:
            raise SppConfigError(f"'where' names no column {column!r}", source=source.path, field="where")
        data = data.filter(lambda v, value=value: v == value, input_columns=column)
    return [prompt_text(v) for v in data[source.prompt_column]]


def _quotas(sources: list[PromptSource], num_prompts: int | None) -> list[int | None]:
    if num_prompts is None:
        return [None] * len(sources)
    shares = [s.share for s in sources]
    if any(s is None for s in shares):
        raise SppConfigError("with num_prompts set, every source needs a share", field="sources")
    total = sum(shares)
    return [round(num_prompts * s / total) for s in shares]


def draw_prompts(sources: list[PromptSource], num_prompts: int | None, seed: int) -> DrawnPrompts:
    """The prompt set (see the module docstring)."""
    out = DrawnPrompts()
    seen: set[str] = set()
    for source, quota in zip(sources, _quotas(sources, num_prompts), strict=True):
        label = source.name_in_output
        rows = read_source(source)
        order = list(range(len(rows)))
        random.Random(f"{seed}:{label}:{source.category}").shuffle(order)
        taken = 0
        for index in order:
            if quota is not None and taken == quota:
                break
            text = rows[index]
            if not text:
                out.empty[label] += 1
                continue
            pid = prompt_sha256(source.category, text)
            if pid in seen:
                out.duplicates[label] += 1
                continue
            seen.add(pid)
            taken += 1
            out.ids.append(pid)
            out.categories.append(source.category)
            out.sources.append(label)
            out.prompts.append(text)
            out.kinds.append("single")
        if quota is not None and taken < quota:
            raise SppConfigError(
                f"source {label!r} has {taken} usable prompts, its share asks for {quota}",
                field="num_prompts",
                fix="lower num_prompts, lower this source's share, or add prompts",
            )
        out.drawn[label] += taken
    order = list(range(len(out)))
    random.Random(f"{seed}:mix").shuffle(order)
    for name in ("ids", "categories", "sources", "prompts", "kinds"):
        values = getattr(out, name)
        setattr(out, name, [values[i] for i in order])
    logger.info("drawn %d prompts: %s", len(out), dict(out.drawn))
    return out


SELFPLAY_SOURCE = "selfplay"


def add_selfplay(drawn: DrawnPrompts, topics: list[dict[str, Any]], conversations: int, seed: int) -> None:
    """Append ``conversations`` self-play items to ``drawn``: a seeded draw of distinct ``{topic, category}`` seeds."""
    if conversations <= 0:
        return
    for index, entry in enumerate(topics):
        if not isinstance(entry, dict) or set(entry) != {"topic", "category"}:
            raise SppConfigError("each self-play topic is {topic, category}", field=f"selfplay_topics[{index}]")
        if entry["category"] not in ("harmful", "benign"):
            raise SppConfigError("a self-play topic is harmful or benign", field=f"selfplay_topics[{index}].category")
    if conversations > len(topics):
        raise SppConfigError(
            f"{conversations} self-play conversations need as many distinct topics (there are {len(topics)})",
            field="selfplay_conversations",
            fix="add topics or ask for fewer conversations",
        )
    order = list(range(len(topics)))
    random.Random(f"{seed}:selfplay").shuffle(order)
    for index in order[:conversations]:
        topic, category = str(topics[index]["topic"]).strip(), topics[index]["category"]
        drawn.ids.append(prompt_sha256(f"selfplay:{category}", topic))
        drawn.categories.append(category)
        drawn.sources.append(SELFPLAY_SOURCE)
        drawn.prompts.append(topic)
        drawn.kinds.append("selfplay")
    drawn.drawn[SELFPLAY_SOURCE] += conversations
