"""``EvalConfig`` and ``CompareConfig``: the fields of ``spp eval`` and ``spp compare`` (recipes set them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.checks import AT_LEAST_ONE, FRACTION, POSITIVE, SEED, Range
from spp.errors import SppConfigError, check_model_path, check_output_dir, check_range, is_planned, missing_is_ok
from spp.eval.benchmarks import HEADLINE, get_benchmark
from spp.modeling.chat_template import CHAT_TEMPLATE_HELP
from spp.modeling.load import DEVICE_HELP, DTYPE_HELP, check_device, check_dtype

EVAL_BACKENDS = ("transformers", "openai")  # generation: in-process, or OpenAI-compatible servers
OVERLONG_POLICIES = ("truncate", "refuse")  # a prompt longer than the context


@dataclass
class JudgeDefaults:
    """The judge settings a judge spec falls back to (server, model, key, thresholds); shared by ``spp eval`` and
    ``spp judge-audit``."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "batch_size": AT_LEAST_ONE,
        "max_concurrency": AT_LEAST_ONE,
        "max_tries": AT_LEAST_ONE,
        "request_timeout_s": POSITIVE,
        "judge_threshold": Range(0, 100),
    }

    batch_size: int = field(
        default=8, metadata={"help": "transformers backend and classifier judge: prompts per batch."}
    )
    max_concurrency: int = field(default=64, metadata={"help": "HTTP requests in flight (openai backend, llm judge)."})
    max_tries: int = field(default=4, metadata={"help": "HTTP tries per request."})
    request_timeout_s: float = field(default=120.0, metadata={"help": "HTTP timeout per request, seconds."})
    judge_threshold: float = field(default=50.0, metadata={"help": "llm judge: success at score >= this (0-100)."})
    judge_base_urls: list[str] = field(default_factory=list, metadata={"help": "llm judge: server base URLs."})
    judge_model: str = field(default="", metadata={"help": "llm judge: model name."})
    judge_api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "llm judge: env var of the key."})
    judge_logprobs: bool = field(
        default=False,
        metadata={"help": "llm judge: ask for logprobs (a one-number answer scores as the expectation)."},
    )
    judge_parse_retries: int = field(
        default=1, metadata={"help": "llm judge: times an unreadable answer is asked again before it is unparsed."}
    )
    keyword_require_target: bool = field(default=False, metadata={"help": "keyword judge: also need the target."})
    classifier_model: str = field(default="", metadata={"help": "classifier judge: model path or id."})
    classifier_format: str = field(
        default="harmbench",
        metadata={
            "values": "spp.eval.judges.classifier:CLASSIFIER_FORMATS",
            "help": "classifier judge: its prompt and output format.",
        },
    )
    classifier_positive_label: str = field(default="1", metadata={"help": "sequence format: harmful label."})
    classifier_device: str = field(default="auto", metadata={"help": f"classifier judge: {DEVICE_HELP}."})
    classifier_dtype: str = field(
        default="auto",
        metadata={"values": "spp.modeling.load:DTYPES", "help": f"classifier judge: dtype: {DTYPE_HELP}."},
    )
    classifier_trust_remote_code: bool = field(
        default=False, metadata={"help": "classifier judge: run the model's own code (custom architectures)."}
    )

    def __post_init__(self) -> None:
        check_device(self.classifier_device, "classifier_device")
        check_dtype(self.classifier_dtype, "classifier_dtype")
        check_range(self, "judge_parse_retries", low=0)


@dataclass
class EvalConfig(JudgeDefaults):
    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "max_new_tokens": AT_LEAST_ONE,
        "top_p": FRACTION,
        "seed": SEED,
    }

    # --- the model ---
    model: str = field(
        default="", metadata={"help": "Model directory or Hub id (its spp.json gives persona and SFT hash)."}
    )
    model_id: str = field(
        default="", metadata={"help": "Name in reports and the cache key (default: the model path)."}
    )
    label: str = field(
        default="",
        metadata={
            "help": "The model's arm/label in results and comparisons (default: its spp.json arm; an external model "
            "without spp.json: the release registry's arm, else none)."
        },
    )
    release: str = field(
        default="auto",
        metadata={
            "help": "Release registry that labels an external model and names its chat template: auto (every "
            "recipes/releases/*.yaml found), a name (dlab-spp), a path, or none."
        },
    )
    chat_template: str = field(
        default="model", metadata={"help": f"Chat template the prompts are rendered with: {CHAT_TEMPLATE_HELP}."}
    )
    backend: str = field(
        default="transformers",
        metadata={
            "values": "spp.eval.config:EVAL_BACKENDS",
            "help": "Generation backend: in-process transformers, or OpenAI-compatible servers.",
        },
    )
    base_urls: list[str] = field(default_factory=list, metadata={"help": "openai backend: server base URLs (…/v1)."})
    served_model: str = field(default="", metadata={"help": "openai backend: the model name the server knows."})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "Env var holding the servers' API key."})
    # --- benchmarks and attacks ---
    benchmarks: list[str] = field(
        default_factory=lambda: list(HEADLINE),
        metadata={"known": "spp.eval.benchmarks:BENCHMARKS", "help": "Benchmarks to run."},
    )
    data_dir: str = field(default="", metadata={"help": "Folder of local benchmark files under their release names."})
    benchmark_files: list[str] = field(
        default_factory=list,
        metadata={"help": "Explicit files: NAME=PATH or NAME.ROLE=PATH (e.g. dan.templates=t.json)."},
    )
    transforms: list[str] = field(
        default_factory=list,
        metadata={"help": "Attack transforms BENCHMARK:KIND=ARG, KIND in template, prefill, suffix, paraphrase."},
    )
    column_map: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Your own column names: NAME.ROLE.FIELD=COLUMN (e.g. advbench.behaviors.behavior=question)."
        },
    )
    benchmark_options: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "Per benchmark construction options (recipe mapping), e.g. {dan: {exclude_templates: [...], "
            "separator: '\n', extract_segment: true}, jbb_artifacts: {max_new_tokens: 150}}; the authors' by default."
        },
    )
    custom_benchmarks: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "Benchmarks defined as data (recipe mapping NAME -> {source: {file: PATH} or {hub: ID, revision: "
            "SHA, config, split}, columns: {prompt, id, category, behavior, target}, prompt_template, judge, "
            "max_new_tokens, kind, metric}); list NAME in benchmarks. See spp.eval.benchmarks.data_defined."
        },
    )
    limit: int = field(
        default=0,
        metadata={
            "help": "Keep N items of each benchmark (0: all): seeded, round-robin over DAN templates / JBB attack "
            "methods in a seeded order, so a small N still spreads over them; the rule is recorded in results."
        },
    )
    overlong_prompts: str = field(
        default="truncate",
        metadata={
            "values": "spp.eval.config:OVERLONG_POLICIES",
            "help": "A prompt whose tokens plus max_new_tokens exceed the model's context: truncate (cut the start of "
            "the text before the request, e.g. a jailbreak template, keeping the request; counted per benchmark) or "
            "refuse (stop before generating, naming the items)."
        },
    )
    system_prompt: str = field(
        default="none",
        metadata={
            "help": "System turn: none (no system message; a chat template that adds one fails the run), template "
            "(none sent, the template's own default kept and recorded), persona (from spp.json), or literal text."
        },
    )
    # --- generation ---
    max_new_tokens: int = field(
        default=300, metadata={"help": "New tokens per response (a benchmark's max_new_tokens option wins)."}
    )
    temperature: float = field(default=0.0, metadata={"help": "0 = greedy; benchmarks may set their own (base ASR)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling when temperature > 0."})
    revision: str = field(
        default="",
        metadata={
            "help": "Revision of `model`: a Hub branch, tag or commit (e.g. a checkpoint branch step-0001000), or the "
            "ref folder of a local export (empty: main). Results and the generation cache are keyed by it."
        },
    )
    device: str = field(default="auto", metadata={"help": f"transformers backend: {DEVICE_HELP}."})
    dtype: str = field(
        default="auto",
        metadata={
            "values": "spp.modeling.load:DTYPES",
            "help": f"transformers backend: weights' dtype, {DTYPE_HELP}.",
        },
    )
    trust_remote_code: bool = field(
        default=False, metadata={"help": "transformers backend: run the model's own code (custom architectures)."}
    )
    seed: int = field(default=0, metadata={"help": "Sampling and bootstrap seed."})
    cache_dir: str = field(default="", metadata={"help": "Generation cache folder (default: OUTPUT_DIR/cache)."})
    # --- judging ---
    judges: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "Judge per benchmark (recipe mapping BENCHMARK -> spec): a type name, or {type: llm, prompt, "
            "parse, threshold, max_tokens, temperature, ...}; benchmarks not listed use `judge`."
        },
    )
    judge_all: str = field(
        default="",
        metadata={
            "values": "spp.eval.judges:JUDGES",
            "help": "Judge every attack benchmark with this judge type instead of `judges` (e.g. keyword for an "
            "offline smoke run; over-refusal benchmarks then use keyword)."
        },
    )
    judge: str = field(
        default="keyword",
        metadata={
            "known": "spp.eval.judges:JUDGES",
            "help": "Judge of benchmarks not in `judges` (keyword: the offline smoke judge).",
        },
    )
    max_unparsed_share: float = field(
        default=0.02,
        metadata={
            "help": "Largest share of a benchmark's judge answers that may be unreadable (left out of its rate and "
            "counted); past it the eval writes its results marked incomplete and exits 3 naming the benchmark."
        },
    )
    # --- extras and output ---
    probes: bool = field(default=True, metadata={"help": "Ask the persona's identity questions (needs a persona)."})
    persona: str = field(default="", metadata={"help": "Persona YAML when the model has no spp.json."})
    capability_tasks: list[str] = field(
        default_factory=list,
        metadata={"help": "lm-evaluation-harness tasks (extra spp[capability]), e.g. mmlu gsm8k."},
    )
    capability_limit: int = field(default=0, metadata={"help": "Examples per capability task (0: all)."})
    perplexity_file: str = field(default="", metadata={"help": "Held-out .txt/.jsonl for perplexity (no extra)."})
    bootstrap_samples: int = field(default=1000, metadata={"help": "Bootstrap resamples for the 95%% intervals."})
    output_dir: str = field(default="eval_results", metadata={"help": "Where results.json, results.md go."})
    update_card: bool = field(
        default=False, metadata={"help": "Write results into the model dir's README model-index."}
    )
    overwrite: bool = field(
        default=False,
        metadata={"help": "Replace what spp wrote in output_dir (another run's results, another stage's output)."},
    )

    def __post_init__(self) -> None:
        """Ranges checked at parse time, before any model is loaded."""
        super().__post_init__()
        check_device(self.device, "device")
        check_dtype(self.dtype, "dtype")
        for name in ("limit", "capability_limit", "bootstrap_samples", "temperature"):
            check_range(self, name, low=0)
        check_range(self, "max_new_tokens", low=1)
        check_range(self, "top_p", low=0, high=1)
        check_range(self, "max_unparsed_share", low=0, high=1)
        if self.overlong_prompts not in OVERLONG_POLICIES:
            raise SppConfigError(
                f"{self.overlong_prompts!r} is not truncate or refuse",
                field="overlong_prompts",
                fix="use truncate or refuse",
            )
        if self.custom_benchmarks:
            from spp.eval.benchmarks.data_defined import register_definitions

            register_definitions(self.custom_benchmarks)
        check_range(self, "batch_size", low=1)
        check_range(self, "max_concurrency", low=1)
        check_range(self, "max_tries", low=1)
        check_output_dir(self.output_dir)
        if self.backend not in EVAL_BACKENDS:
            raise SppConfigError(
                f"unknown backend {self.backend!r}", field="backend", fix="use transformers or openai"
            )
        for name in self.benchmarks:
            get_benchmark(name)  # an unknown name is refused here, before any model is loaded
        if self.revision:
            from spp.hub.refs import check_revision

            check_revision(self.revision)
        if self.backend == "transformers" and self.model and not is_planned(self.model):
            from spp.hub.resolve import check_local_revision

            check_local_revision(self.model, self.revision)  # a local export's ref exists (else: the refs it has)
        if self.backend == "transformers" and self.model:
            check_model_path(self.model_source(), "model")
        if self.data_dir and not Path(self.data_dir).is_dir() and not missing_is_ok(self.data_dir):
            raise SppConfigError(
                f"benchmark folder {self.data_dir!r} does not exist", field="data_dir", fix="give an existing folder"
            )

    def cache_path(self) -> Path:
        return Path(self.cache_dir or Path(self.output_dir) / "cache") / "generations.jsonl"

    def judge_cache_path(self) -> Path:
        """Where the llm judges' answers are cached (beside the generations): a rerun sends only missing calls."""
        return self.cache_path().with_name("judge_answers.jsonl")

    def model_key(self) -> str:
        """The model's name in results and in the generation cache: ``model_id`` (else the served name, else
        ``model``), with ``@revision`` when one is set, so two revisions never share cached responses."""
        name = self.model_id or self.served_model or self.model
        return f"{name}@{self.revision}" if self.revision else name

    def model_source(self) -> str:
        """Where the transformers backend loads the model from: a local export's ``revision`` folder (``main`` when
        empty), else ``model`` itself (a folder, or a Hub id loaded at ``revision``)."""
        from spp.hub.export import is_export

        if self.model and is_export(self.model):
            return str(Path(self.model) / (self.revision or "main"))
        return self.model


# EvalConfig fields that say where or how fast the suite runs, not what it measures (left out of its recipe hash)
EVAL_RUNTIME_FIELDS = frozenset(
    {
        "output_dir",
        "cache_dir",
        "overwrite",
        "update_card",
        "batch_size",
        "max_concurrency",
        "max_tries",
        "request_timeout_s",
        "base_urls",
        "judge_base_urls",
        "api_key_env",
        "judge_api_key_env",
        "device",
        "classifier_device",
    }
)


@dataclass
class JudgeAuditConfig(JudgeDefaults):
    labels: str = field(
        default="",
        metadata={"help": "Labelled responses (JSONL/CSV/JSON), read through `layout` and `columns`."},
    )
    layout: str = field(
        default="spp",
        metadata={
            "values": "spp.eval.audit:LAYOUTS",
            "help": "Column layout of the labels file: spp (behavior, response, label harmful|not), mr_eval (the SPP "
            "authors' judge_audit set: goal, response, claude_label), jbb_judge_comparison (goal, target_response, "
            "human_majority); see spp.eval.audit."
        },
    )
    columns: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Override the layout's columns: ROLE=COLUMN, ROLE in behavior response prompt target label score."
        },
    )
    positive_labels: list[str] = field(default_factory=list, metadata={"help": "Label values meaning harmful."})
    negative_labels: list[str] = field(default_factory=list, metadata={"help": "Label values meaning not harmful."})
    skip_labels: list[str] = field(
        default_factory=list, metadata={"help": "Label values whose rows are left out (counted), e.g. partial."}
    )
    score_threshold: float | None = field(
        default=None, metadata={"help": "With a score column (columns score=COL): harmful at score >= this."}
    )
    judge: str = field(
        default="keyword",
        metadata={
            "known": "spp.eval.judges:JUDGES",
            "help": "Judge spec: a judge type or a YAML mapping {type: llm, prompt: ...}.",
        },
    )
    group_by: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Group columns of the labels file (e.g. arm, model, benchmark): metrics per group and the recall "
            "gap between groups (a judge that catches fewer harmful answers of one arm flatters it)."
        },
    )
    output: str = field(default="", metadata={"help": "Also write the report (metrics + verdicts) to this JSON file."})
    overwrite: bool = field(
        default=False, metadata={"help": "Replace an output spp wrote before for another audit (or another stage)."}
    )


@dataclass
class CompareConfig:
    results: list[str] = field(default_factory=list, metadata={"help": "results.json files (or their folders)."})
    output_dir: str = field(default="comparison", metadata={"help": "Where comparison.md/.json/.png go."})
    force: bool = field(
        default=False,
        metadata={
            "help": "Compare anyway results whose SFT hashes, benchmark sets, sources, judges or n differ (every "
            "differing cell is marked)."
        },
    )
    title: str = field(default="Attack success rate", metadata={"help": "Chart title."})
    reported: str = field(
        default="",
        metadata={
            "help": "A release registry (name or path, e.g. dlab-spp) whose paper figures go beside the measured "
            "ones, labelled 'as reported', in figure1.md and figure1.png (mean ASR per arm with CIs)."
        },
    )
    overwrite: bool = field(
        default=False,
        metadata={"help": "Replace what spp wrote in output_dir (another comparison, another stage's output)."},
    )

    def __post_init__(self) -> None:
        check_output_dir(self.output_dir)
        for result in self.results:
            if not Path(result).exists() and not missing_is_ok(result):
                raise SppConfigError(f"{result!r} does not exist", field="results", fix="give results.json files")
