"""The benchmark registry: what a benchmark is (``BenchmarkSpec``, its ``FileRole`` s and their ``HubSource``) and the
table of known ones (``BENCHMARKS``, filled by ``spp.eval.benchmarks.definitions``; ``register_benchmark`` adds one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.eval.items import EvalItem
from spp.eval.records import Record, read_keyed_lists, read_records, read_text_lines

ATTACK, OVER_REFUSAL, BASE, BEHAVIOR = "attack", "over_refusal", "base", "behavior"
HEADLINE = ("advbench", "dan", "pap", "jbb_artifacts", "harmbench")


@dataclass(frozen=True)
class HubSource:
    repo_id: str
    config: str | None = None
    split: str = "train"
    revision: str | None = None

    def describe(self) -> str:
        parts = [self.repo_id, self.config or "", self.split, self.revision or "main"]
        return ":".join(parts)


@dataclass(frozen=True)
class FileRole:
    """One input file of a benchmark. ``columns`` maps a field to the column names accepted for it (in order)."""

    filename: str
    columns: dict[str, tuple[str, ...]]
    required: tuple[str, ...]
    hub: HubSource | None = None
    note: str = ""
    optional: bool = False
    keyed: tuple[str, str] | None = None  # (id field, value field) of a JSON {id: [value, ...]} file
    missing_fix: str = ""  # what to tell a user who has no file for this role (default: pass one)

    def read(self, path: str) -> list[Record]:
        if Path(path).suffix.lower() == ".txt" and not self.keyed:
            if len(self.required) != 1 or (self.required[0] != "prompt" and "prompt" in self.columns):
                raise SppConfigError(
                    f"a .txt file gives one column (one prompt per line); this file needs {', '.join(self.columns)}",
                    source=path,
                    fix="use a CSV/JSON/JSONL file with those columns",
                )
            return read_text_lines(path, self.columns[self.required[0]][0])
        return read_keyed_lists(path, *self.keyed) if self.keyed else read_records(path)


@dataclass(frozen=True)
class BenchmarkSpec:
    """A benchmark: its files, how records become items, and how it is generated (``chat_template``,
    ``temperature``: ``None`` = the run's setting) and reported (``kind``: attack, over_refusal, base, or behavior: a
    rate of judge successes reported beside the headline, e.g. constitution following). ``extra`` holds what a
    data-defined benchmark adds (its file, judge spec, unverified facts; ``spp.eval.benchmarks.data_defined``)."""

    name: str
    description: str
    kind: str
    license: str
    files: dict[str, FileRole]
    build: Callable[[dict[str, list[Record]]], list[EvalItem]]
    chat_template: bool = True
    temperature: float | None = None
    metric: str = "asr"
    extra: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # construction options, the authors' values (module doc)
    max_new_tokens: int | None = None  # None: the run's max_new_tokens


BENCHMARKS: dict[str, BenchmarkSpec] = {}


def register_benchmark(spec: BenchmarkSpec) -> BenchmarkSpec:
    BENCHMARKS[spec.name] = spec
    return spec


def get_benchmark(name: str) -> BenchmarkSpec:
    """The spec named ``name``; an unknown name raises ``SppConfigError`` listing the known ones."""
    if name not in BENCHMARKS:
        raise SppConfigError(
            f"unknown benchmark {name!r}",
            field="benchmarks",
            fix=f"known benchmarks: {', '.join(sorted(BENCHMARKS))}",
        )
    return BENCHMARKS[name]
