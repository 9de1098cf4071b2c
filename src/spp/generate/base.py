"""The reflection generator interface, its config, and the registry of backends.

A backend turns ``ReflectionRequest``s into ``ReflectionResult``s, one per request, in the same order. Every
request ends ``ok``, ``rejected`` (the response failed validation; the reason is recorded) or ``failed`` (no usable
response after all tries; the error is recorded). A backend never drops a request and never raises for one bad
document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from spp.checks import AT_LEAST_ONE, FRACTION, MINUS_ONE_OR_MORE, POSITIVE, SEED, Range
from spp.errors import SppConfigError
from spp.generate.validate import ReflectionValidator, ValidationConfig
from spp.modeling.load import DEVICE_HELP, DTYPE_HELP, check_device, check_dtype
from spp.persona.render import PromptRenderer, messages_to_text
from spp.persona.spec import IdentityFact
from spp.targets import load_target

STATUSES = ("ok", "rejected", "failed")
ENDPOINTS = ("chat", "completions")  # openai: /chat/completions or /completions
# GeneratorConfig fields that decide where and how fast requests run, not what they answer: every job on the
# generator stack (spp augment, spp bind-data) leaves them out of its resume fingerprint. ``dtype`` is not one of
# them: bfloat16 and float32 weights write different reflections.
SERVER_RUNTIME_FIELDS = frozenset(
    {
        "base_urls",
        "api_key_env",
        "max_concurrency",
        "initial_concurrency",
        "request_timeout_s",
        "backoff_base_s",
        "backoff_max_s",
        "retry_budget_s",
        "max_tries",
        "generation_batch_size",
        "device",
        "max_model_len",
        "prompt_tokenizer",
    }
)


@dataclass(frozen=True)
class ReflectionRequest:
    """One document to reflect on. ``position`` is the reading pause (a character offset into ``text``)."""

    doc_id: str
    text: str
    position: int
    canary: IdentityFact | None = None


@dataclass
class ReflectionResult:
    doc_id: str
    status: str
    reflection_position: int
    reflection_1p: str | None = None
    reflection_3p: str | None = None
    citations: list[str] = field(default_factory=list)
    reason: str | None = None
    raw_response: str | None = None
    attempts: int = 0
    tokens_in: int = 0
    tokens_out: int = 0

    def to_row(self) -> dict[str, Any]:
        """The columns this result contributes to an augmented dataset row."""
        return {
            "reflection_1p": self.reflection_1p,
            "reflection_3p": self.reflection_3p,
            "citations": list(self.citations),
            "reflection_position": self.reflection_position,
            "reflection_status": self.status,
            "reflection_reason": self.reason,
            "raw_response": self.raw_response,
        }


@dataclass
class GeneratorConfig:
    """How reflections are generated. Fields not used by the chosen backend are ignored by it."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "max_concurrency": AT_LEAST_ONE,
        "initial_concurrency": AT_LEAST_ONE,
        "request_timeout_s": POSITIVE,
        "top_p": FRACTION,
        "top_k": MINUS_ONE_OR_MORE,
        "presence_penalty": Range(-2, 2),
        "max_new_tokens": AT_LEAST_ONE,
        "generation_batch_size": AT_LEAST_ONE,
        "generation_seed": SEED,
    }

    backend: str = field(
        default="offline",
        metadata={"values": "spp.generate.base:GENERATORS", "help": "Generator backend (the spp.generate registry)."},
    )
    model: str = field(
        default="spp-offline",
        metadata={"help": "Model name sent to the server (openai) or local path / Hub id (transformers)."},
    )
    base_urls: list[str] = field(
        default_factory=lambda: ["http://127.0.0.1:8000/v1"],
        metadata={"help": "OpenAI-compatible base URLs (several servers share the load)."},
    )
    endpoint: str = field(
        default="chat",
        metadata={
            "values": "spp.generate.base:ENDPOINTS",
            "help": "openai: 'chat' (/chat/completions) or 'completions'.",
        },
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "Environment variable holding the API key (never logged)."}
    )
    server_kind: str = field(
        default="openai",
        metadata={
            "values": "spp.generate.openai_client:SERVER_KINDS",
            "help": "openai: the server software, which decides the extra sampling fields that may be sent: "
            "'openai' (hosted OpenAI-compatible APIs: standard fields only), 'vllm', 'sglang', 'tgi' or "
            "'transformers-serve' (see spp.generate.openai_client.SERVER_KINDS)."
        },
    )
    max_concurrency: int = field(
        default=256,
        metadata={
            "help": "openai: most requests in flight over all servers; the number actually in flight adapts to what "
            "the servers sustain (starts at initial_concurrency, halves on timeouts, 429 and 503)."
        },
    )
    initial_concurrency: int = field(default=16, metadata={"help": "openai: requests in flight at the start."})
    request_timeout_s: float = field(
        default=120.0,
        metadata={"help": "openai: timeout of one request, seconds (time queued in the server counts)."},
    )
    max_tries: int = field(
        default=0,
        metadata={"help": "openai: most tries per document (0: no count limit, only retry_budget_s)."},
    )
    retry_budget_s: float = field(
        default=300.0,
        metadata={
            "help": "openai: a document is retried for up to this many seconds (a server restart fits); when no "
            "server has answered for that long, documents fail after one try and a rerun regenerates them."
        },
    )
    backoff_base_s: float = field(default=0.5, metadata={"help": "openai: first retry delay; doubles each try."})
    backoff_max_s: float = field(default=30.0, metadata={"help": "openai: longest retry delay (Retry-After too)."})
    temperature: float | None = field(default=1.0, metadata={"help": "Sampling temperature (empty: server default)."})
    top_p: float | None = field(default=0.95, metadata={"help": "Nucleus sampling threshold (empty: not sent)."})
    top_k: int | None = field(
        default=None,
        metadata={"help": "Top-k sampling; empty: not sent. openai: only servers whose server_kind accepts it."},
    )
    presence_penalty: float | None = field(
        default=1.5, metadata={"help": "Presence penalty (empty: not sent; transformers serve ignores it)."}
    )
    max_new_tokens: int = field(default=1024, metadata={"help": "Longest response, in tokens."})
    max_model_len: int | None = field(
        default=None,
        metadata={
            "help": "openai: the most tokens, prompt and answer, the server's model takes (vLLM/transformers serve "
            "--max-model-len). Empty: what the server reports (vLLM's /v1/models); checked against the prompt "
            "before the first request."
        },
    )
    prompt_tokenizer: str | None = field(
        default=None,
        metadata={
            "help": "openai: tokenizer of the served model (local folder or Hub id) to count the prompt with when "
            "the server has no /tokenize route (vLLM and SGLang have one). Empty: the server counts."
        },
    )
    generation_batch_size: int = field(default=8, metadata={"help": "transformers: prompts per generate() call."})
    device: str = field(default="auto", metadata={"help": f"transformers: {DEVICE_HELP}."})
    dtype: str = field(
        default="auto",
        metadata={
            "values": "spp.modeling.load:DTYPES",
            "help": f"transformers: weights' dtype, {DTYPE_HELP} (changes the answers: part of a resume).",
        },
    )
    generation_seed: int = field(default=0, metadata={"help": "Seed for sampling (and the offline backend)."})

    def __post_init__(self) -> None:
        check_device(self.device, "device")
        check_dtype(self.dtype, "dtype")
        if self.max_model_len is not None and self.max_model_len < 1:
            raise SppConfigError(
                f"max_model_len is {self.max_model_len}", field="max_model_len", fix="give a positive token count"
            )


class ReflectionGenerator:
    """Base class: subclasses implement ``_generate`` over a batch; ``generate`` adds nothing but the contract."""

    name: ClassVar[str] = "base"

    def __init__(self, config: GeneratorConfig, renderer: PromptRenderer, validation: ValidationConfig | None = None):
        self.config = config
        self.renderer = renderer
        shared_prompt = renderer.system_prompt()
        self.validator = ReflectionValidator(renderer.constitution, validation, prompt_text=shared_prompt)

    @property
    def model_id(self) -> str:
        return self.config.model

    def generate(self, requests: Sequence[ReflectionRequest]) -> list[ReflectionResult]:
        """One result per request, in order."""
        if not requests:
            return []
        results = self._generate(list(requests))
        if len(results) != len(requests) or any(r.doc_id != q.doc_id for r, q in zip(results, requests, strict=True)):
            raise RuntimeError(f"{type(self).__name__} broke the one-result-per-request contract")
        return results

    def _generate(self, requests: list[ReflectionRequest]) -> list[ReflectionResult]:
        raise NotImplementedError

    def check_reachable(self) -> None:
        """Raise ``SppConfigError`` when the backend cannot work at all (no server answers); called before the
        first document. Local backends have nothing to check."""

    def error_summary(self) -> str:
        """Where failures came from (servers and error kinds), for an exit summary; empty for local backends."""
        return ""

    def close(self) -> None:
        """Release servers' sessions, models, ... (idempotent)."""

    def __enter__(self) -> ReflectionGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Shared by backends.
    def prompt_messages(self, request: ReflectionRequest) -> list[dict[str, str]]:
        return self.renderer.messages(request.text, request.position, request.canary)

    def prompt_text(self, request: ReflectionRequest) -> str:
        return messages_to_text(self.prompt_messages(request))

    def judge(self, request: ReflectionRequest, raw: str, attempts: int, tokens_in: int = 0, tokens_out: int = 0):
        """Validate ``raw`` for ``request`` and build its result."""
        verdict = self.validator.validate(raw, request.text[: request.position])
        return ReflectionResult(
            doc_id=request.doc_id,
            status=verdict.status,
            reflection_position=request.position,
            reflection_1p=verdict.reflection_1p,
            reflection_3p=verdict.reflection_3p,
            citations=list(verdict.citations),
            reason=verdict.reason,
            raw_response=raw,
            attempts=attempts,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
        )


GENERATORS: dict[str, str | type[ReflectionGenerator]] = {
    "offline": "spp.generate.offline:OfflineGenerator",
    "openai": "spp.generate.openai_client:OpenAIGenerator",
    "transformers": "spp.generate.hf:TransformersGenerator",
}


def register_generator(name: str, target: str | type[ReflectionGenerator]) -> None:
    """Register a backend by name: a class, or ``"module:Class"`` imported on first use."""
    GENERATORS[name] = target


def generator_class(name: str) -> type[ReflectionGenerator]:
    if name not in GENERATORS:
        raise SppConfigError(
            f"unknown generator backend {name!r}", field="backend", fix=f"choose one of {sorted(GENERATORS)}"
        )
    return load_target(GENERATORS[name])


def build_generator(
    config: GeneratorConfig, renderer: PromptRenderer, validation: ValidationConfig | None = None
) -> ReflectionGenerator:
    """The configured backend, ready to ``generate``."""
    return generator_class(config.backend)(config, renderer, validation)
