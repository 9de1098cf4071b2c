"""The benchmark registry and loaders.

Modules: ``registry`` (``BenchmarkSpec``, ``FileRole``, ``HubSource``, ``BENCHMARKS``), ``builders`` (records to
items), ``definitions`` (every benchmark spp knows), ``loading`` (options, files, Hub, provenance); the names below
are importable from ``spp.eval.benchmarks`` itself.

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

from spp.eval.benchmarks.definitions import (
    HARMBENCH_BEHAVIORS,
    JBB,
    JBB_COLUMNS,
)
from spp.eval.benchmarks.loading import (
    GENERIC_OPTIONS,
    OPTION_CHOICES,
    BenchmarkData,
    benchmark_options,
    check_inputs,
    file_source,
    load_benchmark,
    parse_column_map,
    parse_file_overrides,
    prepare_benchmark,
    sample_items,
    test_case_provenance,
)
from spp.eval.benchmarks.registry import (
    ATTACK,
    BASE,
    BEHAVIOR,
    BENCHMARKS,
    HEADLINE,
    OVER_REFUSAL,
    BenchmarkSpec,
    FileRole,
    HubSource,
    get_benchmark,
    register_benchmark,
)

__all__ = [
    "ATTACK",
    "BASE",
    "BEHAVIOR",
    "OVER_REFUSAL",
    "BENCHMARKS",
    "BenchmarkData",
    "BenchmarkSpec",
    "FileRole",
    "GENERIC_OPTIONS",
    "HARMBENCH_BEHAVIORS",
    "HEADLINE",
    "HubSource",
    "JBB",
    "JBB_COLUMNS",
    "OPTION_CHOICES",
    "benchmark_options",
    "check_inputs",
    "file_source",
    "get_benchmark",
    "load_benchmark",
    "parse_column_map",
    "parse_file_overrides",
    "prepare_benchmark",
    "register_benchmark",
    "sample_items",
    "test_case_provenance",
]
