"""``run_suite``: benchmarks -> transforms -> prompts -> cached generation -> judge -> metrics (+ probes).

Promises: the results dict has every requested benchmark (or the run fails with the reason); generation goes
through the on-disk cache (see ``spp.eval.generation``), so changing only the judge regenerates nothing; every
verdict is written to ``verdicts.jsonl`` with the judge id; over-refusal benchmarks are scored by refusal
(keyword refusal phrases) whatever the judge, and only ``attack`` benchmarks enter the headline mean/max.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.eval.benchmarks import (
    ATTACK,
    OVER_REFUSAL,
    check_inputs,
    get_benchmark,
    load_benchmark,
    parse_file_overrides,
    test_case_provenance,
)
from spp.eval.config import EvalConfig
from spp.eval.generation import GenerationCache, GenRequest, GenSettings, generate_cached
from spp.eval.items import EvalItem
from spp.eval.judges import Judge, JudgeInput, KeywordJudge, build_judge
from spp.eval.metrics import headline, summarize
from spp.eval.probes import persona_system_prompt, score_probes
from spp.eval.transforms import apply_transforms, parse_transform
from spp.metadata import SppMetadata, read_metadata
from spp.persona.spec import Persona, load_persona, persona_from_dict

logger = logging.getLogger(__name__)


def build_backend(config: EvalConfig):
    from spp.eval.generation import OpenAIBackend, TransformersBackend

    if config.backend == "transformers":
        return TransformersBackend(config.model, batch_size=config.batch_size, dtype=config.dtype)
    if config.backend == "openai":
        from spp.generate.server_pool import ServerConfig

        if not config.base_urls:
            raise SppConfigError("the openai backend needs servers", field="base_urls")
        server = ServerConfig(
            list(config.base_urls),
            config.api_key_env,
            config.max_concurrency,
            config.request_timeout_s,
            config.max_tries,
        )
        return OpenAIBackend(config.served_model or config.model, server)
    raise SppConfigError(f"unknown backend {config.backend!r}", field="backend", fix="use transformers or openai")


def model_metadata(config: EvalConfig) -> SppMetadata | None:
    return read_metadata(config.model) if config.model and Path(config.model).is_dir() else None


def resolve_persona(config: EvalConfig, meta: SppMetadata | None) -> Persona | None:
    """The persona of the model's ``spp.json``, else the ``persona`` YAML of the config, else ``None``."""
    if meta is not None and meta.persona:
        return persona_from_dict(meta.persona, source=f"{config.model}/spp.json")
    return load_persona(config.persona) if config.persona else None


def system_text(config: EvalConfig, persona: Persona | None) -> str | None:
    if config.system_prompt in ("", "none"):
        return None
    if config.system_prompt == "persona":
        if persona is None:
            raise SppConfigError(
                "system_prompt persona needs a persona",
                field="system_prompt",
                fix="evaluate a model with an spp.json, or pass persona: PATH",
            )
        return persona_system_prompt(persona)
    return config.system_prompt


def to_request(item: EvalItem, chat: bool, system: str | None, settings: GenSettings) -> GenRequest:
    messages = ((("system", system),) if system and chat else ()) + (("user", item.prompt),)
    return GenRequest(messages=messages, prefill=item.prefill, chat=chat, settings=settings)


def _settings(config: EvalConfig, temperature: float | None, max_new_tokens: int | None = None) -> GenSettings:
    temp = config.temperature if temperature is None else temperature
    return GenSettings(max_new_tokens or config.max_new_tokens, temp, config.top_p, config.seed)


def evaluate_benchmark(
    name: str, config: EvalConfig, backend: Any, cache: GenerationCache, judge: Judge, system: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One benchmark's summary and its per-item verdict rows."""
    spec = get_benchmark(name)
    items = load_benchmark(name, config.data_dir or None, parse_file_overrides(config.benchmark_files), config.limit)
    transforms = [t for b, t in map(parse_transform, config.transforms) if b == name]
    items = apply_transforms(items, transforms)
    if not items:
        raise SppConfigError(f"benchmark {name!r} has no items", field="benchmarks")
    settings = _settings(config, spec.temperature, config.new_tokens_for(name))
    requests = [to_request(item, spec.chat_template, system, settings) for item in items]
    started = time.perf_counter()
    responses = generate_cached(backend, cache, config.model_key(), name, requests, [i.id for i in items])
    generated_s = time.perf_counter() - started
    inputs = [JudgeInput(i.behavior, r, i.prompt, i.target) for i, r in zip(items, responses, strict=True)]
    scorer = KeywordJudge() if spec.kind == OVER_REFUSAL else judge
    started = time.perf_counter()
    verdicts = scorer.judge(inputs)
    judged_s = time.perf_counter() - started
    flags = [bool(v.refused) if spec.kind == OVER_REFUSAL else v.success for v in verdicts]
    summary = {
        "kind": spec.kind,
        "metric": spec.metric,
        "judge": scorer.id,
        **summarize(
            flags, [i.category for i in items], [i.attack for i in items], config.bootstrap_samples, config.seed
        ),
        "max_new_tokens": settings.max_new_tokens,
        **test_case_provenance(name, config.data_dir or None, parse_file_overrides(config.benchmark_files)),
        "generation_s": round(generated_s, 3),
        "judging_s": round(judged_s, 3),
        "flags": flags,
    }
    rows = [
        {**item.to_dict(), "response": resp, **verdict.to_dict()}
        for item, resp, verdict in zip(items, responses, verdicts, strict=True)
    ]
    return summary, rows


def run_probes(persona: Persona, config: EvalConfig, backend: Any, cache: GenerationCache, system: str | None):
    facts = persona.identity_facts
    settings = _settings(config, None)
    requests = [
        GenRequest(((("system", system),) if system else ()) + (("user", f.question),), settings=settings)
        for f in facts
    ]
    responses = generate_cached(backend, cache, config.model_key(), "persona_probes", requests, [f.key for f in facts])
    return score_probes(facts, responses)


def run_suite(config: EvalConfig, backend: Any = None, judge: Judge | None = None) -> dict[str, Any]:
    """Run the configured suite on the model and return the results dict (see ``spp.eval.report``)."""
    files = parse_file_overrides(config.benchmark_files)
    for name in config.benchmarks:
        check_inputs(name, config.data_dir or None, files)  # fail on a typo or a missing file before any model loads
        config.new_tokens_for(name)  # and on a malformed max_new_tokens_per_benchmark entry
    judge = judge or build_judge(config.judge, config)
    meta = model_metadata(config)
    persona = resolve_persona(config, meta)
    system = system_text(config, persona)
    backend = backend or build_backend(config)
    cache = GenerationCache(config.cache_path())
    out_dir = Path(config.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    benchmarks: dict[str, Any] = {}
    with (out_dir / "verdicts.jsonl").open("w", encoding="utf-8") as handle:
        for name in config.benchmarks:
            benchmarks[name], rows = evaluate_benchmark(name, config, backend, cache, judge, system)
            handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            logger.info(
                "%s: %s %.3f (n=%d)",
                name,
                benchmarks[name]["metric"],
                benchmarks[name]["value"],
                benchmarks[name]["n"],
            )
    attack = {n: b.pop("flags") for n, b in list(benchmarks.items()) if b["kind"] == ATTACK}
    for b in benchmarks.values():
        b.pop("flags", None)
    results: dict[str, Any] = {
        "schema": "spp.eval/1",
        "model": config.model_key(),
        "model_path": config.model,
        "backend": getattr(backend, "name", type(backend).__name__),
        "judge": judge.id,
        "sft_hash": meta.sft_hash if meta else None,
        "arm": meta.arm if meta else None,
        "persona_id": persona.id if persona else None,
        "system_prompt": config.system_prompt,
        "benchmarks": benchmarks,
        "headline": headline(attack, config.bootstrap_samples, config.seed),
        "probes": run_probes(persona, config, backend, cache, system) if config.probes and persona else None,
        "settings": {
            "max_new_tokens": config.max_new_tokens,
            "max_new_tokens_per_benchmark": list(config.max_new_tokens_per_benchmark),
            "temperature": config.temperature,
            "limit": config.limit,
            "transforms": list(config.transforms),
            "seed": config.seed,
        },
        "python": platform.python_version(),
    }
    results.update(_capability(config, backend))
    return results


def _capability(config: EvalConfig, backend: Any) -> dict[str, Any]:
    from spp.eval.capability import heldout_perplexity, read_texts, run_harness

    extra: dict[str, Any] = {}
    if config.perplexity_file:
        if not hasattr(backend, "tokenizer"):
            raise SppConfigError("perplexity needs the transformers backend", field="perplexity_file")
        extra["perplexity"] = heldout_perplexity(backend.model, backend.tokenizer, read_texts(config.perplexity_file))
    if config.capability_tasks:
        extra["capability"] = run_harness(config.model, config.capability_tasks, config.capability_limit or None)
    return extra
