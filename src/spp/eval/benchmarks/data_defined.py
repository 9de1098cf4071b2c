"""Benchmarks as data: a recipe's ``custom_benchmarks`` mapping (and spp's own ``data/*.yaml`` entries) become
registry entries, with no code.

A definition (every key but ``source`` and ``kind`` optional)::

    custom_benchmarks:
      my_bench:
        kind: behavior                  # attack (enters the headline mean), over_refusal, base or behavior
        metric: follow_rate             # the name of the rate (default: asr, refusal_rate, or rate)
        description: "..."
        license: "..."
        source: {file: data/my_bench.jsonl}        # CSV/JSON/JSONL/.txt, or:
        # source: {hub: org/name, revision: 40-hex commit, config: null, split: test}
        columns: {prompt: question, id: qid, category: topic, behavior: goal, target: answer}  # default: same name
        prompt_template: null           # Jinja over the row's columns, instead of a prompt column
        target_template: null           # Jinja: the reference answer (the `match` judge compares with it)
        unique_by: null                 # keep the first row per value of this column (duplicates are counted)
        judge: {type: llm, prompt: judge.jinja, parse: "label:yes/no"}   # default: the run's `judge`
        max_new_tokens: 256             # default: the run's
        chat_template: true             # false for base-model prompts
        temperature: null               # default: the run's
        unverified: ["what about the source is not checked"]

Promises: a definition is checked when the recipe is parsed (unknown keys, a missing file, a Hub source without a
revision, an unknown judge type, a name that shadows a built-in benchmark all fail with the field named); a Hub
source must name a revision, and results record ``pinned: true`` only for a 40-hex commit. The items are built by
``build_items`` and then behave like any benchmark's: files read and hashed before the model loads, column maps
(``NAME.items.FIELD=COLUMN``), ``limit``, the judge's ``unparsed`` count, results and compare.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from spp.errors import SppConfigError
from spp.eval.benchmarks.registry import (
    ATTACK,
    BASE,
    BEHAVIOR,
    BENCHMARKS,
    OVER_REFUSAL,
    BenchmarkSpec,
    FileRole,
    HubSource,
    register_benchmark,
)
from spp.eval.items import EvalItem
from spp.eval.records import Record

logger = logging.getLogger("spp.eval")
ROLE = "items"
KINDS = (ATTACK, OVER_REFUSAL, BASE, BEHAVIOR)
KEYS = (
    "kind",
    "metric",
    "description",
    "license",
    "source",
    "columns",
    "prompt_template",
    "target_template",
    "unique_by",
    "judge",
    "max_new_tokens",
    "chat_template",
    "temperature",
    "unverified",
)
FIELDS = ("prompt", "id", "category", "behavior", "target", "attack")
DEFAULT_METRIC = {ATTACK: "asr", BASE: "asr", OVER_REFUSAL: "refusal_rate", BEHAVIOR: "rate"}
COMMIT = re.compile(r"[0-9a-f]{40}")


def _fail(name: str, key: str, message: str, fix: str = "") -> None:
    raise SppConfigError(
        message, field=f"custom_benchmarks.{name}.{key}" if key else f"custom_benchmarks.{name}", fix=fix
    )


def _source(name: str, source: Any, where: Path | None) -> tuple[str | None, HubSource | None]:
    """``(local file, hub source)`` of a definition's ``source`` (exactly one of them)."""
    if not isinstance(source, dict) or ("file" in source) == ("hub" in source):
        _fail(name, "source", "must be {file: PATH} or {hub: ID, revision: COMMIT, config, split}")
    if "file" in source:
        path = Path(str(source["file"]))
        if not path.is_absolute() and where is not None:
            path = where / path
        if set(source) != {"file"}:
            _fail(name, "source", f"a file source takes only file, not {sorted(set(source) - {'file'})}")
        if not path.is_file():
            _fail(
                name, "source", f"benchmark file {str(path)!r} does not exist", "give an existing CSV/JSON/JSONL file"
            )
        return str(path), None
    unknown = set(source) - {"hub", "revision", "config", "split"}
    if unknown:
        _fail(name, "source", f"unknown keys {sorted(unknown)}", "a Hub source takes hub, revision, config, split")
    if not source.get("revision"):
        _fail(name, "source", f"the Hub source {source['hub']!r} has no revision", "pin one: revision: COMMIT_SHA")
    hub = HubSource(
        str(source["hub"]), source.get("config"), str(source.get("split", "train")), str(source["revision"])
    )
    return None, hub


def _template(name: str, key: str, text: str | None):
    if text is None:
        return None
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
    try:
        return env.from_string(str(text))
    except jinja2.TemplateSyntaxError as err:
        _fail(name, key, f"not valid Jinja ({err.message})")


def _render(template, record: Record, what: str) -> str:
    import jinja2

    try:
        return template.render(**{k: v for k, v in record.items() if not k.startswith("_")}).strip()
    except jinja2.UndefinedError as err:
        raise SppConfigError(
            f"{what} uses a column the row does not have ({err.message})",
            source=record.get("_source"),
            fix=f"its columns are: {', '.join(k for k in record if not k.startswith('_'))}",
        ) from err


def _builder(name: str, definition: dict[str, Any]) -> Callable[[dict[str, list[Record]]], list[EvalItem]]:
    columns = {f: str((definition.get("columns") or {}).get(f, f)) for f in FIELDS}  # unmapped: the field's name
    prompt_template = _template(name, "prompt_template", definition.get("prompt_template"))
    target_template = _template(name, "target_template", definition.get("target_template"))
    unique_by = definition.get("unique_by")

    def text(record: Record, field: str) -> str:
        value = record.get(columns[field])
        return "" if value is None else str(value).strip()

    def build(records: dict[str, list[Record]]) -> list[EvalItem]:
        items, seen, duplicates = [], set(), 0
        for i, record in enumerate(records[ROLE]):
            if unique_by is not None:
                key = str(record.get(unique_by))
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)
            prompt = _render(prompt_template, record, "prompt_template") if prompt_template else text(record, "prompt")
            if not prompt:
                raise SppConfigError(
                    f"empty prompt (column {columns.get('prompt')!r})",
                    source=record.get("_source"),
                    fix="map the prompt column (columns: {prompt: COLUMN}) or give a prompt_template",
                )
            target = _render(target_template, record, "target_template") if target_template else text(record, "target")
            items.append(
                EvalItem(
                    benchmark=name,
                    id=f"{name}-{text(record, 'id') or i}",
                    behavior=text(record, "behavior") or prompt,
                    prompt=prompt,
                    category=text(record, "category"),
                    target=target,
                    attack=text(record, "attack"),
                    source=record["_source"],
                )
            )
        if duplicates:
            logger.info("%s: %d rows with a repeated %s left out (unique_by)", name, duplicates, unique_by)
        return items

    return build


def definition_spec(name: str, definition: Any, where: Path | None = None) -> BenchmarkSpec:
    """The ``BenchmarkSpec`` of one definition (module doc), checked; ``where``: the folder relative files are in."""
    if not isinstance(definition, dict):
        _fail(name, "", "a benchmark definition must be a mapping", "see spp.eval.benchmarks.data_defined")
    unknown = sorted(set(definition) - set(KEYS))
    if unknown:
        _fail(name, unknown[0], f"unknown keys {unknown}", f"a definition takes: {', '.join(KEYS)}")
    kind = definition.get("kind")
    if kind not in KINDS:
        _fail(name, "kind", f"kind {kind!r} is not one of {', '.join(KINDS)}", "attack enters the headline mean")
    file, hub = _source(name, definition.get("source"), where)
    columns = definition.get("columns") or {}
    bad = sorted(set(columns) - set(FIELDS)) if isinstance(columns, dict) else ["(not a mapping)"]
    if bad:
        _fail(
            name, "columns", f"unknown fields {bad}", f"columns maps these fields to your columns: {', '.join(FIELDS)}"
        )
    if definition.get("judge") is not None:
        from spp.eval.judges import judge_settings

        judge_settings(definition["judge"], where=f"custom_benchmarks.{name}.judge")
    tokens = definition.get("max_new_tokens")
    if tokens is not None and (not isinstance(tokens, int) or tokens < 1):
        _fail(name, "max_new_tokens", f"must be a positive integer, got {tokens!r}")
    accepted = {f: (str(c),) for f, c in columns.items()}
    role = FileRole(
        f"{name}.jsonl",
        {**{f: (f,) for f in FIELDS}, **accepted},
        (),  # the builder names a row without a prompt
        hub,
        f"data-defined: {file or hub.describe()}",  # type: ignore[union-attr]
        missing_fix=f"give custom_benchmarks.{name}.source",
    )
    return BenchmarkSpec(
        name=name,
        description=str(definition.get("description") or f"{name} (defined as data)"),
        kind=kind,
        license=str(definition.get("license") or "see the source"),
        files={ROLE: role},
        build=_builder(name, definition),
        chat_template=bool(definition.get("chat_template", kind != BASE)),
        temperature=definition.get("temperature"),
        metric=str(definition.get("metric") or DEFAULT_METRIC[kind]),
        max_new_tokens=tokens,
        extra={
            "data_defined": True,
            "file": file,
            "judge": definition.get("judge"),
            "unverified": list(definition.get("unverified") or []),
            "pinned": bool(hub and COMMIT.fullmatch(hub.revision or "")),
        },
    )


def register_definitions(definitions: dict[str, Any], where: Path | None = None) -> list[str]:
    """Register every definition of a ``custom_benchmarks`` mapping; a name of a built-in benchmark is refused."""
    if not isinstance(definitions, dict):
        raise SppConfigError("must map benchmark names to definitions", field="custom_benchmarks")
    for name, definition in definitions.items():
        existing = BENCHMARKS.get(name)
        if existing is not None and not existing.extra.get("data_defined"):
            _fail(name, "", f"{name!r} is a built-in benchmark", "give your benchmark another name")
        register_benchmark(definition_spec(str(name), definition, where))
    return list(definitions)


def register_builtin_definitions() -> None:
    """spp's own data-defined entries (``spp/eval/benchmarks/data/*.yaml``, one benchmark per file)."""
    folder = resources.files("spp.eval.benchmarks") / "data"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            register_benchmark(definition_spec(entry.name[: -len(".yaml")], yaml.safe_load(entry.read_text("utf-8"))))
