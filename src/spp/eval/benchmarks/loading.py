"""Reading a benchmark: its construction options, the file of each role (explicit file, ``data_dir``, Hub), column
maps, sampling, and the provenance of what was read (see the ``spp.eval.benchmarks`` module doc for the rules)."""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.eval.benchmarks.registry import BenchmarkSpec, FileRole, HubSource, get_benchmark
from spp.eval.items import EvalItem
from spp.eval.records import Record

GENERIC_OPTIONS = ("max_new_tokens", "transfer_attack")
OPTION_CHOICES = {
    "null_prompt": ("failure", "skip"),
    "aggregate": ("mean_over_attacks", "pooled"),
    "transfer_attack": (True, False),
}


def _check_role(name: str, role: str, where: str) -> None:
    spec = get_benchmark(name)
    if role not in spec.files:
        raise SppConfigError(
            f"benchmark {name!r} has no file role {role!r}",
            field=where,
            fix=f"the roles of {name} are: {', '.join(spec.files)}",
        )


def parse_file_overrides(entries: list[str]) -> dict[str, list[str]]:
    """``["advbench=a.csv", "dan.templates=t.json"]`` -> ``{"advbench": [...], "dan.templates": [...]}``.

    An unknown benchmark or role raises naming the ones that exist (a misspelt role is never ignored)."""
    out: dict[str, list[str]] = {}
    for entry in entries:
        key, sep, path = entry.partition("=")
        if not sep or not path:
            raise SppConfigError(f"bad entry {entry!r}", field="benchmark_files", fix="write NAME[.ROLE]=PATH")
        name, dot, role = key.strip().partition(".")
        get_benchmark(name)
        if dot:
            _check_role(name, role, "benchmark_files")
        out.setdefault(key.strip(), []).append(path.strip())
    return out


def parse_column_map(entries: list[str]) -> dict[tuple[str, str], dict[str, str]]:
    """``["advbench.behaviors.behavior=question"]`` -> ``{("advbench", "behaviors"): {"behavior": "question"}}``."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for entry in entries:
        key, sep, column = entry.partition("=")
        parts = key.strip().split(".")
        if not sep or not column.strip() or len(parts) != 3:
            raise SppConfigError(f"bad entry {entry!r}", field="column_map", fix="write NAME.ROLE.FIELD=COLUMN")
        name, role, name_field = parts
        _check_role(name, role, "column_map")
        if name_field not in get_benchmark(name).files[role].columns:
            raise SppConfigError(
                f"{name}.{role} has no field {name_field!r}",
                field="column_map",
                fix=f"its fields are: {', '.join(get_benchmark(name).files[role].columns)}",
            )
        out.setdefault((name, role), {})[name_field] = column.strip()
    return out


def benchmark_options(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The construction options of ``name``: its defaults (the authors') updated with ``overrides``."""
    spec = get_benchmark(name)
    options = {**spec.options, "max_new_tokens": spec.max_new_tokens, **(overrides or {})}
    # transfer_attack only means something for a benchmark that reads an attack's test cases (spp.eval.attack_origin)
    generic = [o for o in GENERIC_OPTIONS if o != "transfer_attack" or any(r.keyed for r in spec.files.values())]
    unknown = sorted(set(options) - set(spec.options) - set(generic))
    if unknown:
        raise SppConfigError(
            f"unknown options {unknown} for benchmark {name!r}",
            field="benchmark_options",
            fix=f"{name} takes: {', '.join([*generic, *spec.options])}",
        )
    for key, choices in OPTION_CHOICES.items():
        if key in options and options[key] not in choices:
            raise SppConfigError(
                f"{name}: {key} {options[key]!r} is not one of {', '.join(choices)}", field="benchmark_options"
            )
    return options


def _paths_for(spec: BenchmarkSpec, role: str, overrides: dict[str, list[str]], data_dir: str | None) -> list[str]:
    first_role = next(iter(spec.files))
    explicit = overrides.get(f"{spec.name}.{role}") or (overrides.get(spec.name) if role == first_role else None)
    if explicit:
        return explicit
    if spec.extra.get("file") and role == first_role:  # a data-defined benchmark's own file
        return [spec.extra["file"]]
    if data_dir and (Path(data_dir) / spec.files[role].filename).is_file():
        return [str(Path(data_dir) / spec.files[role].filename)]
    return []


def _hub_records(spec: BenchmarkSpec, role: str) -> tuple[list[Record], dict[str, Any]]:
    hub = spec.files[role].hub
    if hub is None:
        _no_file(spec, role)
    try:
        from datasets import load_dataset

        data = load_dataset(hub.repo_id, hub.config, split=hub.split, revision=hub.revision)
    except Exception as err:  # offline, gated, renamed: the user needs the local alternative either way
        raise SppConfigError(
            f"could not load {hub.describe()} from the Hub ({type(err).__name__}: {err})",
            field="benchmark_files",
            fix=f"pass benchmark_files {spec.name}.{role}=PATH or put {spec.files[role].filename} in data_dir",
        ) from err
    source = {
        "hub": hub.repo_id,
        "config": hub.config,
        "split": hub.split,
        "revision": hub.revision or _resolve(hub),
        "pinned": bool(re.fullmatch(r"[0-9a-f]{40}", hub.revision or "")),  # a branch or tag can move
    }
    return [{**row, "_source": f"hub:{hub.describe()}#{i}"} for i, row in enumerate(data)], source


def _resolve(hub: HubSource) -> str | None:
    """The commit ``main`` points at now (recorded so an unpinned source is still identified), else ``None``."""
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(hub.repo_id).sha
    except Exception:  # offline: the source stays unpinned and results say so
        return None


def file_source(path: str, rows: int) -> dict[str, Any]:
    """``{path, sha256, rows}`` of a local benchmark file."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return {"path": str(path), "sha256": digest, "rows": rows}


def _apply_column_map(records: list[Record], role: FileRole, mapping: dict[str, str], source: str) -> list[Record]:
    """Copy each mapped column into the first accepted name of its field; a missing column names the file."""
    if not mapping or not records:
        return records
    out = []
    for record in records:
        for name_field, column in mapping.items():
            if column not in record:
                raise SppConfigError(
                    f"column {column!r} (mapped to {name_field!r}) is not in the file",
                    source=record.get("_source", source),
                    fix=f"its columns are: {', '.join(k for k in record if not k.startswith('_'))}",
                )
            record = {**record, role.columns[name_field][0]: record[column]}
        out.append(record)
    return out


@dataclass
class BenchmarkData:
    """One benchmark, read and validated: its items (after ``limit``), sources per role, construction options."""

    name: str
    items: list[EvalItem]
    sources: dict[str, list[dict[str, Any]]]
    options: dict[str, Any]
    total: int  # items before ``limit``
    sampling: str = "all items"  # how ``limit`` chose the items (``sampling_rule``)
    context: dict[str, Any] = field(default_factory=dict)  # the context check (``spp.eval.context``), set by the suite
    attack_origin: str | None = None  # own, transfer or unverified test cases (``spp.eval.attack_origin``)


def _groups(items: list[EvalItem]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(item.attack.split("+")[0], []).append(index)
    return groups


def sample_items(items: list[EvalItem], limit: int, seed: int = 0) -> list[EvalItem]:
    """``limit`` items spread over the attack groups (DAN templates, JBB methods), in the items' order.

    With one group (or none) the first ``limit`` items are kept; with several, the groups are visited in a seeded
    order and each is shuffled with ``seed``, taking one item of each group in turn: a limit below the number of
    groups takes one item from each of ``limit`` seeded-random groups, never just the first ones."""
    if limit <= 0 or limit >= len(items):
        return items
    groups = _groups(items)
    if len(groups) < 2:
        return items[:limit]
    rng = random.Random(seed)
    queues = [rng.sample(indices, len(indices)) for indices in groups.values()]
    rng.shuffle(queues)
    chosen: list[int] = []
    while len(chosen) < limit:
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop())
    return [items[i] for i in sorted(chosen)]


def sampling_rule(items: list[EvalItem], limit: int, seed: int) -> str:
    """How ``sample_items`` chose (recorded in results beside the benchmark's n)."""
    if limit <= 0 or limit >= len(items):
        return "all items"
    groups = len(_groups(items))
    if groups < 2:
        return f"the first {limit} of {len(items)} items"
    return (
        f"{limit} of {len(items)} items: seeded (seed {seed}) round-robin over {groups} templates/attack methods, "
        "visited in a seeded order, one seeded-random item of each in turn"
    )


def prepare_benchmark(
    name: str,
    data_dir: str | None = None,
    files: dict[str, list[str]] | None = None,
    limit: int = 0,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    column_map: dict[tuple[str, str], dict[str, str]] | None = None,
) -> BenchmarkData:
    """Read every file of ``name`` (see module doc), validate it, build its items and record the sources."""
    spec = get_benchmark(name)
    opts = benchmark_options(name, options)
    records: dict[str, list[Record]] = {}
    sources: dict[str, list[dict[str, Any]]] = {}
    for role, file_role in spec.files.items():
        paths = _paths_for(spec, role, files or {}, data_dir)
        mapping = (column_map or {}).get((name, role), {})
        if paths:
            records[role], sources[role] = [], []
            for path in paths:
                rows = _apply_column_map(file_role.read(path), file_role, mapping, path)
                records[role] += rows
                sources[role].append(file_source(path, len(rows)))
        elif file_role.optional:
            records[role], sources[role] = [], []
        else:
            rows, hub_source = _hub_records(spec, role)
            records[role] = _apply_column_map(rows, file_role, mapping, hub_source["hub"])
            sources[role] = [{**hub_source, "rows": len(rows)}]
    items = spec.build(records, opts) if spec.options else spec.build(records)
    kept = sample_items(items, limit, seed)
    return BenchmarkData(name, kept, sources, opts, len(items), sampling_rule(items, limit, seed))


def _no_file(spec: BenchmarkSpec, role: str) -> None:
    file_role = spec.files[role]
    raise SppConfigError(
        f"benchmark {spec.name!r} needs a local file for {role!r} (it has no canonical Hub dataset)",
        field="benchmark_files",
        fix=file_role.missing_fix
        or f"pass benchmark_files {spec.name}.{role}=PATH or put {file_role.filename} in data_dir",
    )


def check_inputs(name: str, data_dir: str | None = None, files: dict[str, list[str]] | None = None) -> None:
    """Raise ``SppConfigError`` now (before any model loads) when a file ``name`` needs can come from nowhere."""
    spec = get_benchmark(name)
    for role, file_role in spec.files.items():
        if not file_role.optional and file_role.hub is None and not _paths_for(spec, role, files or {}, data_dir):
            _no_file(spec, role)


def test_case_provenance(name: str, data_dir: str | None, files: dict[str, list[str]]) -> dict[str, Any]:
    """For a benchmark that reads attack test cases: each file's path and sha256, and the attack that wrote it
    (method, hyperparameters, model hash) from the ``<stem>.attack.json`` beside it, where there is one."""
    import hashlib
    import json

    spec, out = get_benchmark(name), []
    for role, file_role in spec.files.items():
        if file_role.keyed is None:
            continue
        for path in _paths_for(spec, role, files, data_dir):
            entry: dict[str, Any] = {"path": path, "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}
            record = Path(path).with_name(f"{Path(path).stem}.attack.json")
            if record.is_file():
                attack = json.loads(record.read_text(encoding="utf-8"))
                keys = ("attack", "hyperparameters", "defaults_from", "model", "model_sha256", "settings_hash",
                        "chat_template")  # fmt: skip
                entry.update({k: attack.get(k) for k in keys})
                entry["matches_attack_record"] = attack.get("test_cases", {}).get("sha256") == entry["sha256"]
            else:
                entry["attack"] = None  # written elsewhere (e.g. HarmBench's own generate_test_cases)
            out.append(entry)
    return {"test_cases": out} if out else {}


def load_benchmark(
    name: str, data_dir: str | None = None, files: dict[str, list[str]] | None = None, limit: int = 0
) -> list[EvalItem]:
    """The items of benchmark ``name`` (before recipe transforms), from local files or the Hub (see module doc).

    ``limit`` > 0 keeps ``limit`` items spread over the attack groups (``sample_items``)."""
    return prepare_benchmark(name, data_dir, files, limit).items
