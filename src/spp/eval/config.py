"""``EvalConfig`` and ``CompareConfig``: the fields of ``spp eval`` and ``spp compare`` (recipes set them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from spp.errors import SppConfigError
from spp.eval.benchmarks import HEADLINE


@dataclass
class EvalConfig:
    # --- the model ---
    model: str = field(
        default="", metadata={"help": "Model directory or Hub id (its spp.json gives persona and SFT hash)."}
    )
    model_id: str = field(
        default="", metadata={"help": "Name in reports and the cache key (default: the model path)."}
    )
    backend: str = field(default="transformers", metadata={"help": "Generation backend: transformers or openai."})
    base_urls: list[str] = field(default_factory=list, metadata={"help": "openai backend: server base URLs (…/v1)."})
    served_model: str = field(default="", metadata={"help": "openai backend: the model name the server knows."})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "Env var holding the servers' API key."})
    # --- benchmarks and attacks ---
    benchmarks: list[str] = field(default_factory=lambda: list(HEADLINE), metadata={"help": "Benchmarks to run."})
    data_dir: str = field(default="", metadata={"help": "Folder of local benchmark files under their release names."})
    benchmark_files: list[str] = field(
        default_factory=list,
        metadata={"help": "Explicit files: NAME=PATH or NAME.ROLE=PATH (e.g. dan.templates=t.json)."},
    )
    transforms: list[str] = field(
        default_factory=list,
        metadata={"help": "Attack transforms BENCHMARK:KIND=ARG, KIND in template, prefill, suffix, paraphrase."},
    )
    limit: int = field(default=0, metadata={"help": "Keep the first N items of each benchmark (0: all)."})
    system_prompt: str = field(
        default="none", metadata={"help": "System turn: none, persona (from spp.json), or the literal text to send."}
    )
    # --- generation ---
    max_new_tokens: int = field(default=300, metadata={"help": "New tokens per response."})
    max_new_tokens_per_benchmark: list[str] = field(
        default_factory=list,
        metadata={"help": "NAME=N: new tokens for one benchmark instead (the protocol: harmbench=512)."},
    )
    temperature: float = field(default=0.0, metadata={"help": "0 = greedy; benchmarks may set their own (base ASR)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling when temperature > 0."})
    batch_size: int = field(default=8, metadata={"help": "transformers backend: prompts per generate() call."})
    dtype: str = field(default="auto", metadata={"help": "transformers backend: model dtype."})
    seed: int = field(default=0, metadata={"help": "Sampling and bootstrap seed."})
    cache_dir: str = field(default="", metadata={"help": "Generation cache folder (default: OUTPUT_DIR/cache)."})
    max_concurrency: int = field(default=64, metadata={"help": "HTTP requests in flight (openai backend, llm judge)."})
    max_tries: int = field(default=4, metadata={"help": "HTTP tries per request."})
    request_timeout_s: float = field(default=120.0, metadata={"help": "HTTP timeout per request, seconds."})
    # --- judging ---
    judge: str = field(default="keyword", metadata={"help": "Judge: keyword, llm or classifier."})
    judge_threshold: float = field(default=50.0, metadata={"help": "llm judge: success at score >= this (0-100)."})
    judge_base_urls: list[str] = field(default_factory=list, metadata={"help": "llm judge: server base URLs."})
    judge_model: str = field(default="", metadata={"help": "llm judge: model name."})
    judge_api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "llm judge: env var of the key."})
    judge_logprobs: bool = field(default=True, metadata={"help": "llm judge: ask for logprobs (score = expectation)."})
    keyword_require_target: bool = field(default=False, metadata={"help": "keyword judge: also need the target."})
    classifier_model: str = field(default="", metadata={"help": "classifier judge: model path or id."})
    classifier_format: str = field(default="harmbench", metadata={"help": "harmbench, llama_guard or sequence."})
    classifier_positive_label: str = field(default="1", metadata={"help": "sequence format: harmful label."})
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

    def new_tokens_for(self, benchmark: str) -> int:
        """``max_new_tokens_per_benchmark``'s value for ``benchmark``, else ``max_new_tokens``."""
        for entry in self.max_new_tokens_per_benchmark:
            name, sep, value = entry.partition("=")
            if not sep or not value.strip().isdigit():
                raise SppConfigError(f"bad entry {entry!r}", field="max_new_tokens_per_benchmark", fix="write NAME=N")
            if name.strip() == benchmark:
                return int(value)
        return self.max_new_tokens

    def cache_path(self) -> Path:
        return Path(self.cache_dir or Path(self.output_dir) / "cache") / "generations.jsonl"

    def model_key(self) -> str:
        return self.model_id or self.served_model or self.model


@dataclass
class CompareConfig:
    results: list[str] = field(default_factory=list, metadata={"help": "results.json files (or their folders)."})
    output_dir: str = field(default="comparison", metadata={"help": "Where comparison.md/.json/.png go."})
    force: bool = field(default=False, metadata={"help": "Compare models with different SFT hashes anyway."})
    title: str = field(default="Attack success rate", metadata={"help": "Chart title."})
