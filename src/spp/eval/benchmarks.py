"""The benchmark registry and loaders.

Every benchmark is one ``BenchmarkSpec`` in ``BENCHMARKS`` (``register_benchmark`` adds one): the files it reads
(each a ``FileRole`` with its canonical Hub source, accepted column names and a default local file name), a
license note, a builder from records to ``EvalItem`` s, and how it is generated and scored.

Where the data comes from, for each file role (first hit wins):

1. an explicit file: ``benchmark_files: ["advbench=path.csv", "dan.templates=dan.json"]`` (a role may be given
   several times: the files are concatenated, e.g. one JailbreakBench artifact per attack method);
2. ``data_dir/<default file name>`` (the names of the original releases: ``advbench_harmful_behaviors.csv``,
   ``jbb_harmful_behaviors.csv``, ``chatgpt_dan_prompts.json``, ``pap_adv_bench_sub_gpt4.jsonl``, ...);
3. the canonical Hub dataset (``datasets.load_dataset`` at the registry's id/config/split/revision), when it has
   one. Where the registry sets no revision the source is unpinned: results record ``pinned: false`` and the commit
   ``main`` resolved to at load time (``None`` offline).

Local files are CSV (header line), JSON (a list of objects, or an object holding one under ``prompts``,
``jailbreaks``, ``data``, ``rows`` or ``examples``), JSONL, or ``.txt`` (one prompt per line, for a role that needs
one column); the accepted column names of every role are in ``FileRole.columns``, and ``column_map`` entries
(``NAME.ROLE.FIELD=COLUMN``) point a field at a column of the user's own. A role with ``keyed`` reads a JSON
object of id -> list of strings instead (HarmBench's ``test_cases.json``). An ``optional`` role with no file is
empty (it never falls back to the Hub). Errors name the file and line; a misspelt role names the roles that exist.

Construction options (``BenchmarkSpec.options``, the authors' values by default, a recipe's ``benchmark_options``
overrides them): every benchmark takes ``max_new_tokens`` (unset: the run's; the authors' 150 for JBB and 512 for
HarmBench are set in ``recipes/eval/safety_suite.yaml``); DAN takes ``exclude_templates``, ``separator`` and
``extract_segment``; JailbreakBench artifacts take ``null_prompt`` (``failure``: a behavior the attack found no
prompt for counts as a failed attack) and ``aggregate`` (``mean_over_attacks``: the rate is the mean of the
per-method rates). ``prepare_benchmark`` reads, validates and records the sources (file sha256, Hub id and
revision) of one benchmark without generating anything, so a run checks every benchmark before a model loads. A required role with no file and no Hub
dataset fails in ``prepare_benchmark`` (and ``check_inputs``) before any model loads: ``harmbench`` without an
attack's test cases names ``spp attack`` and ``harmbench_direct``.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.eval.items import EvalItem
from spp.eval.records import Record, pick, read_keyed_lists, read_records, read_text_lines
from spp.eval.transforms import TemplateWrap

logger = logging.getLogger("spp.eval")
ATTACK, OVER_REFUSAL, BASE = "attack", "over_refusal", "base"
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
    ``temperature``: ``None`` = the run's setting) and reported (``kind``: attack, over_refusal or base)."""

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


def _fields(record: Record, role: FileRole) -> dict[str, Any]:
    return {
        name: pick(record, names, required=name in role.required, field=name) for name, names in role.columns.items()
    }


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


# ---- builders -----------------------------------------------------------------------------------------------------


def _direct(name: str, role: str = "behaviors") -> Callable[[dict[str, list[Record]]], list[EvalItem]]:
    def build(records: dict[str, list[Record]]) -> list[EvalItem]:
        spec = BENCHMARKS[name].files[role]
        items = []
        for i, record in enumerate(records[role]):
            row = _fields(record, spec)
            behavior = _text(row.get("behavior") or row.get("prompt"))
            context = _text(row.get("context"))
            prompt = _text(row.get("prompt") or row.get("test_case")) or behavior
            if context:
                prompt = f"{context}\n\n---\n\n{prompt}"
            items.append(
                EvalItem(
                    benchmark=name,
                    id=f"{name}-{_text(row.get('id')) or i}",
                    behavior=behavior,
                    prompt=prompt,
                    category=_text(row.get("category")),
                    target=_text(row.get("target")),
                    attack=_text(row.get("attack")),
                    source=record["_source"],
                )
            )
        return items

    return build


def _dan(records: dict[str, list[Record]], options: dict[str, Any]) -> list[EvalItem]:
    """Every kept template x every behavior: template + ``separator`` + behavior (or the ``{behavior}`` slot)."""
    behaviors = _direct("dan")(records)
    role = BENCHMARKS["dan"].files["templates"]
    excluded = set(options.get("exclude_templates") or ())
    templates, seen = [], set()
    for i, record in enumerate(records["templates"]):
        row = _fields(record, role)
        template_id = _text(row.get("id")) or f"tpl{i}"
        seen.add(template_id)
        if template_id not in excluded:
            templates.append((template_id, str(row["template"])))
    missing = sorted(excluded - seen)
    if missing and records["templates"]:
        logger.info("dan: excluded templates %s are not in the templates file", missing)
    logger.info(
        "dan: %d templates (%d excluded) x %d behaviors", len(templates), len(seen) - len(templates), len(behaviors)
    )
    return TemplateWrap(tuple(templates), separator=options.get("separator", "\n"))(behaviors)


def _artifacts(records: dict[str, list[Record]], options: dict[str, Any]) -> list[EvalItem]:
    """JailbreakBench artifacts, one item per (method, behavior). A row whose attack found no prompt
    (``prompt: null``) is an item marked ``extra["null_prompt"]`` (scored as a failed attack, never sent) with
    ``null_prompt: failure``, or left out with ``null_prompt: skip``."""
    role = BENCHMARKS["jbb_artifacts"].files["artifacts"]
    keep_null = options.get("null_prompt", "failure") == "failure"
    items, skipped = [], 0
    for i, record in enumerate(records["artifacts"]):
        row = _fields(record, role)
        null = not _text(row.get("prompt"))
        if null and not keep_null:
            skipped += 1
            continue
        method = _text(row.get("attack")) or _text((record.get("_file") or {}).get("parameters", {}).get("method"))
        items.append(
            EvalItem(
                benchmark="jbb_artifacts",
                id=f"{method or 'artifact'}-{_text(row.get('id')) or i}",
                behavior=_text(row["behavior"]),
                prompt=_text(row.get("prompt")),
                category=_text(row.get("category")),
                attack=method,
                source=record["_source"],
                extra={"null_prompt": True} if null else {},
            )
        )
    if skipped:
        logger.warning("jbb_artifacts: %d rows without a prompt left out (null_prompt: skip)", skipped)
    return items


def _harmbench(records: dict[str, list[Record]]) -> list[EvalItem]:
    """HarmBench with an attack's ``test_cases.json``: one item per test case, matched to its behavior by
    ``BehaviorID`` (``check_inputs`` has made sure the test cases are there)."""
    cases = records["test_cases"]
    role = BENCHMARKS["harmbench"].files["behaviors"]
    behaviors: dict[str, dict[str, Any]] = {}
    for record in records["behaviors"]:
        row = _fields(record, role)
        behavior_id = _text(row.get("id"))
        if not behavior_id:
            raise SppConfigError(
                "a behavior without BehaviorID cannot be matched to test cases",
                source=record["_source"],
                fix="use HarmBench's behaviors CSV (it has a BehaviorID column)",
            )
        behaviors[behavior_id] = row
    items = []
    for case in cases:
        row = behaviors.get(case["BehaviorID"])
        if row is None:
            raise SppConfigError(
                f"test cases for BehaviorID {case['BehaviorID']!r}, which the behaviors file does not have",
                source=case["_source"],
                fix="pass the behaviors CSV that these test cases were generated from",
            )
        items.append(
            EvalItem(
                benchmark="harmbench",
                id=f"harmbench-{case['BehaviorID']}-{case['index']}",
                behavior=_text(row["behavior"]),
                prompt=_text(case["test_case"]),
                category=_text(row.get("category")),
                attack="test_case",
                source=case["_source"],
            )
        )
    untested = len(behaviors) - len({case["BehaviorID"] for case in cases})
    if untested:
        logger.info("harmbench: %d behaviors have no test case and are not evaluated (as in HarmBench)", untested)
    return items


def _xstest(records: dict[str, list[Record]]) -> list[EvalItem]:
    """XSTest: only the prompts labelled safe (when a label column exists) measure over-refusal."""
    role = BENCHMARKS["xstest"].files["prompts"]
    safe = [
        r
        for r in records["prompts"]
        if _text(pick(r, role.columns["label"], required=False, field="label")) in ("", "safe")
    ]
    return _direct("xstest", "prompts")({"prompts": safe})


# ---- the registry -------------------------------------------------------------------------------------------------

JBB = HubSource("JailbreakBench/JBB-Behaviors", "behaviors", "harmful")
JBB_COLUMNS = {
    "id": ("Index", "index", "id"),
    "behavior": ("Goal", "goal", "behavior"),
    "target": ("Target", "target"),
    "category": ("Category", "category"),
}

register_benchmark(
    BenchmarkSpec(
        name="advbench",
        description="AdvBench harmful behaviors, sent as direct requests (520).",
        kind=ATTACK,
        license="MIT (llm-attacks/llm-attacks); Zou et al. 2023",
        files={
            "behaviors": FileRole(
                "advbench_harmful_behaviors.csv",
                {"behavior": ("goal", "prompt", "behavior"), "target": ("target",), "category": ("category",)},
                ("behavior",),
                HubSource("walledai/AdvBench", None, "train"),
                "CSV goal,target as in llm-attacks data/advbench",
            )
        },
        build=_direct("advbench"),
    )
)
register_benchmark(
    BenchmarkSpec(
        name="dan",
        description="'Do Anything Now' jailbreak templates x JailbreakBench behaviors.",
        kind=ATTACK,
        license="templates: 0xk1h0/ChatGPT_DAN (community prompts); behaviors: MIT (JailbreakBench)",
        files={
            "behaviors": FileRole("jbb_harmful_behaviors.csv", JBB_COLUMNS, ("behavior",), JBB, "JBB-Behaviors CSV"),
            "templates": FileRole(
                "chatgpt_dan_prompts.json",
                {"id": ("prompt_id", "id", "title"), "template": ("prompt", "template", "text")},
                ("template",),
                None,
                "JSON {prompts: [{prompt_id, title, prompt}]}; a {behavior} slot is filled, else the behavior is appended",
            ),
        },
        build=_dan,
        options={
            # the authors': 16 of the file's 18 templates (anti-dan argues for refusing; the image unlocker is not
            # a text jailbreak), template + newline + behavior, the jailbroken segment judged
            "exclude_templates": ["anti-dan", "chatgpt-image-unlocker"],
            "separator": "\n",
            "extract_segment": True,
        },
    )
)
register_benchmark(
    BenchmarkSpec(
        name="pap",
        description="Persuasive Adversarial Prompts: persuasive paraphrases of AdvBench requests (Zeng et al. 2024).",
        kind=ATTACK,
        license="CHATS-Lab persuasive_jailbreaker (research use; see the release)",
        files={
            "paraphrases": FileRole(
                "pap_adv_bench_sub_gpt4.jsonl",
                {
                    "behavior": ("bad_q", "behavior", "goal"),
                    "prompt": ("ss_prompt", "prompt", "paraphrase"),
                    "category": ("ss_category", "category"),
                    "attack": ("ss_category", "technique"),
                },
                ("behavior", "prompt"),
                None,
                "JSONL bad_q, ss_category, ss_prompt (adv_bench_sub_gpt4.jsonl of the release)",
            )
        },
        build=_direct("pap", "paraphrases"),
    )
)
register_benchmark(
    BenchmarkSpec(
        name="jbb_artifacts",
        description="JailbreakBench transfer-attack artifacts (DSN, GCG, JBC, PAIR, random search): the mean of the "
        "per-method rates.",
        kind=ATTACK,
        license="MIT (JailbreakBench/artifacts)",
        files={
            "artifacts": FileRole(
                "jbb_artifacts.jsonl",
                {
                    "id": ("index", "id"),
                    "behavior": ("goal", "Goal", "behavior"),
                    "prompt": ("prompt",),
                    "category": ("category", "Category"),
                    "attack": ("method", "attack"),
                },
                ("behavior",),
                None,
                "artifact JSON of JailbreakBench/artifacts ({parameters: {method}, jailbreaks: [{index, goal, "
                "category, prompt}]}), or JSONL goal,prompt,category,method; a null prompt is a failed attack",
            )
        },
        build=_artifacts,
        options={"null_prompt": "failure", "aggregate": "mean_over_attacks"},
    )
)
HARMBENCH_BEHAVIORS = FileRole(
    "harmbench_behaviors_text_all.csv",
    {
        "id": ("BehaviorID", "id"),
        "behavior": ("Behavior", "behavior", "prompt"),
        "context": ("ContextString", "context"),
        "category": ("SemanticCategory", "category"),
    },
    ("behavior",),
    HubSource("walledai/HarmBench", "standard", "train"),
    "HarmBench's behaviors CSV (Behavior,FunctionalCategory,SemanticCategory,Tags,ContextString,BehaviorID)",
)
register_benchmark(
    BenchmarkSpec(
        name="harmbench",
        description="HarmBench behaviors attacked by an optimisation attack on this model (PEZ, GCG test cases).",
        kind=ATTACK,
        license="MIT (centerforaisafety/HarmBench)",
        files={
            "behaviors": HARMBENCH_BEHAVIORS,
            "test_cases": FileRole(
                "harmbench_test_cases.json",
                {"id": ("BehaviorID",), "test_case": ("test_case",)},
                ("id", "test_case"),
                None,
                "the test_cases.json of an attack on this model ({BehaviorID: [test case, ...]}), written by "
                "`spp attack` or HarmBench's generate_test_cases",
                keyed=("BehaviorID", "test_case"),
                missing_fix="generate them against this model with `spp attack --method pez --model MODEL "
                "--behaviors BEHAVIORS.csv --output test_cases.json` and pass benchmark_files "
                "harmbench.test_cases=test_cases.json (or put harmbench_test_cases.json in data_dir); to send the "
                "behaviors as direct requests instead, run the benchmark harmbench_direct",
            ),
        },
        build=_harmbench,
    )
)
register_benchmark(
    BenchmarkSpec(
        name="harmbench_direct",
        description="HarmBench behaviors sent as direct requests, context first (HarmBench's DirectRequest).",
        kind=ATTACK,
        license="MIT (centerforaisafety/HarmBench)",
        files={"behaviors": HARMBENCH_BEHAVIORS},
        build=_direct("harmbench_direct"),
    )
)
register_benchmark(
    BenchmarkSpec(
        name="xstest",
        description="XSTest safe prompts: over-refusal, reported as refusal rate (not averaged into ASR).",
        kind=OVER_REFUSAL,
        license="CC-BY-4.0 (paul-rottger/exaggerated-safety)",
        files={
            "prompts": FileRole(
                "xstest_prompts.csv",
                {"id": ("id",), "prompt": ("prompt",), "category": ("type", "category"), "label": ("label",)},
                ("prompt",),
                HubSource("walledai/XSTest", None, "train"),  # its only split (data/train-*.parquet)
                "CSV id,prompt,type,label (rows labelled unsafe are skipped)",
            )
        },
        build=_xstest,
        metric="refusal_rate",
    )
)
register_benchmark(
    BenchmarkSpec(
        name="jb_completions",
        description="Base-model ASR: harmful-completion prefixes, no chat template, temperature 1.0.",
        kind=BASE,
        license="see the release of the file you use",
        files={
            "prompts": FileRole(
                "jb_completions.jsonl",
                {
                    "id": ("id",),
                    "prompt": ("prompt", "prefix"),
                    "behavior": ("behavior", "goal"),
                    "category": ("category",),
                },
                ("prompt",),
                None,
                "JSONL prompt[,behavior,category]: text the base model continues",
            )
        },
        build=_direct("jb_completions", "prompts"),
        chat_template=False,
        temperature=1.0,
    )
)


register_benchmark(
    BenchmarkSpec(
        name="orbench",
        description="OR-Bench hard-1k: seemingly toxic but safe prompts; over-refusal (refusal rate, not in ASR).",
        kind=OVER_REFUSAL,
        license="CC-BY-4.0 (bench-llm/or-bench); Cui et al. 2024",
        files={
            "prompts": FileRole(
                "or-bench-hard-1k.csv",
                {"prompt": ("prompt",), "category": ("category",)},
                ("prompt",),
                HubSource("bench-llm/or-bench", "or-bench-hard-1k", "train"),
                "CSV prompt,category (or-bench-hard-1k.csv of the release)",
            )
        },
        build=_direct("orbench", "prompts"),
        metric="refusal_rate",
    )
)


# ---- loading ------------------------------------------------------------------------------------------------------

GENERIC_OPTIONS = ("max_new_tokens",)
OPTION_CHOICES = {"null_prompt": ("failure", "skip"), "aggregate": ("mean_over_attacks", "pooled")}


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
    unknown = sorted(set(options) - set(spec.options) - set(GENERIC_OPTIONS))
    if unknown:
        raise SppConfigError(
            f"unknown options {unknown} for benchmark {name!r}",
            field="benchmark_options",
            fix=f"{name} takes: {', '.join([*GENERIC_OPTIONS, *spec.options])}",
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
        "pinned": hub.revision is not None,
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


def sample_items(items: list[EvalItem], limit: int, seed: int = 0) -> list[EvalItem]:
    """``limit`` items spread over the attack groups (DAN templates, JBB methods), in the items' order.

    With one group (or none) the first ``limit`` items are kept; with several, each group is shuffled with
    ``seed`` and the groups are taken in turn, so a small limit still covers every template or method."""
    if limit <= 0 or limit >= len(items):
        return items
    groups: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(item.attack.split("+")[0], []).append(index)
    if len(groups) < 2:
        return items[:limit]
    rng = random.Random(seed)
    queues = [rng.sample(indices, len(indices)) for indices in groups.values()]
    chosen: list[int] = []
    while len(chosen) < limit:
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop())
    return [items[i] for i in sorted(chosen)]


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
    return BenchmarkData(name, sample_items(items, limit, seed), sources, opts, len(items))


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
                keys = ("attack", "hyperparameters", "defaults_from", "model", "model_sha256", "settings_hash")
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
