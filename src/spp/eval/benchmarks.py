"""The benchmark registry and loaders.

Every benchmark is one ``BenchmarkSpec`` in ``BENCHMARKS`` (``register_benchmark`` adds one): the files it reads
(each a ``FileRole`` with its canonical Hub source, accepted column names and a default local file name), a
license note, a builder from records to ``EvalItem`` s, and how it is generated and scored.

Where the data comes from, for each file role (first hit wins):

1. an explicit file: ``benchmark_files: ["advbench=path.csv", "dan.templates=dan.json"]`` (a role may be given
   several times: the files are concatenated, e.g. one JailbreakBench artifact per attack method);
2. ``data_dir/<default file name>`` (the names of the original releases: ``advbench_harmful_behaviors.csv``,
   ``jbb_harmful_behaviors.csv``, ``chatgpt_dan_prompts.json``, ``pap_adv_bench_sub_gpt4.jsonl``, ...);
3. the canonical Hub dataset (``datasets.load_dataset`` at the pinned id/config/split/revision), when it has one.

Local files are CSV (header line), JSON (a list of objects, or an object holding one under ``prompts``,
``jailbreaks``, ``data``, ``rows`` or ``examples``) or JSONL; the accepted column names of every role are in
``FileRole.columns``. A role with ``keyed`` reads a JSON object of id -> list of strings instead (HarmBench's
``test_cases.json``). An ``optional`` role with no file is empty (it never falls back to the Hub). Errors name the
file and line. ``check_inputs`` raises, before any model loads, for a required role that has no file and no Hub
dataset (``harmbench`` without an attack's test cases names ``spp attack`` and ``harmbench_direct``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.eval.items import EvalItem
from spp.eval.records import Record, pick, read_keyed_lists, read_records
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


def _dan(records: dict[str, list[Record]]) -> list[EvalItem]:
    behaviors = _direct("dan")(records)
    role = BENCHMARKS["dan"].files["templates"]
    templates = []
    for i, record in enumerate(records["templates"]):
        row = _fields(record, role)
        templates.append((_text(row.get("id")) or f"tpl{i}", str(row["template"])))
    return TemplateWrap(tuple(templates))(behaviors)


def _artifacts(records: dict[str, list[Record]]) -> list[EvalItem]:
    """JailbreakBench artifacts: rows whose attack found no prompt (``prompt: null``) are not items."""
    role = BENCHMARKS["jbb_artifacts"].files["artifacts"]
    items = []
    for i, record in enumerate(records["artifacts"]):
        row = _fields(record, role)
        if not _text(row.get("prompt")):
            continue
        method = _text(row.get("attack")) or _text((record.get("_file") or {}).get("parameters", {}).get("method"))
        items.append(
            EvalItem(
                benchmark="jbb_artifacts",
                id=f"{method or 'artifact'}-{_text(row.get('id')) or i}",
                behavior=_text(row["behavior"]),
                prompt=_text(row["prompt"]),
                category=_text(row.get("category")),
                attack=method,
                source=record["_source"],
            )
        )
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
        description="JailbreakBench transfer-attack artifacts (PAIR, GCG, JBC, DSN, random search prompts).",
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
                "category, prompt}]}), or JSONL goal,prompt,category,method; null prompts are skipped",
            )
        },
        build=_artifacts,
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


# ---- loading ------------------------------------------------------------------------------------------------------


def parse_file_overrides(entries: list[str]) -> dict[str, list[str]]:
    """``["advbench=a.csv", "dan.templates=t.json"]`` -> ``{"advbench": [...], "dan.templates": [...]}``."""
    out: dict[str, list[str]] = {}
    for entry in entries:
        key, sep, path = entry.partition("=")
        if not sep or not path:
            raise SppConfigError(f"bad entry {entry!r}", field="benchmark_files", fix="write NAME[.ROLE]=PATH")
        name = key.split(".")[0].strip()
        get_benchmark(name)
        out.setdefault(key.strip(), []).append(path.strip())
    return out


def _paths_for(spec: BenchmarkSpec, role: str, overrides: dict[str, list[str]], data_dir: str | None) -> list[str]:
    first_role = next(iter(spec.files))
    explicit = overrides.get(f"{spec.name}.{role}") or (overrides.get(spec.name) if role == first_role else None)
    if explicit:
        return explicit
    if data_dir and (Path(data_dir) / spec.files[role].filename).is_file():
        return [str(Path(data_dir) / spec.files[role].filename)]
    return []


def _hub_records(spec: BenchmarkSpec, role: str) -> list[Record]:
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
    return [{**row, "_source": f"hub:{hub.describe()}#{i}"} for i, row in enumerate(data)]


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

    ``limit`` > 0 keeps the first ``limit`` items.
    """
    spec = get_benchmark(name)
    records: dict[str, list[Record]] = {}
    for role in spec.files:
        paths = _paths_for(spec, role, files or {}, data_dir)
        file_role = spec.files[role]
        if paths:
            records[role] = [r for p in paths for r in file_role.read(p)]
        else:
            records[role] = [] if file_role.optional else _hub_records(spec, role)
    items = spec.build(records)
    return items[:limit] if limit > 0 else items
