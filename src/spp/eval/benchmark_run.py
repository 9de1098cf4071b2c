"""One benchmark of the suite: read and validated before any model loads (``prepare_all``), then generated through
the cache, judged and summarized (``evaluate_benchmark``); the persona probes (``run_probes``)."""

from __future__ import annotations

import time
from typing import Any

from spp.errors import SppConfigError
from spp.eval.benchmarks import (
    ATTACK,
    BENCHMARKS,
    OVER_REFUSAL,
    BenchmarkData,
    get_benchmark,
    parse_column_map,
    parse_file_overrides,
    prepare_benchmark,
    test_case_provenance,
)
from spp.eval.config import EvalConfig
from spp.eval.generation import GenerationCache, GenRequest, generate_cached
from spp.eval.items import EvalItem
from spp.eval.judges import Judge, JudgeInput, Verdict, describe
from spp.eval.metrics import Outcomes, summarize
from spp.eval.probes import score_probes
from spp.eval.segments import jailbreak_segment
from spp.eval.transforms import apply_transforms, parse_transform
from spp.eval.turns import generation_settings, to_request
from spp.persona.spec import Persona


def _check_names(mapping: dict[str, Any], where: str) -> None:
    """Names of benchmarks that do not exist (a typo) raise; benchmarks not in this run are simply not used."""
    unknown = sorted(set(mapping) - set(BENCHMARKS))
    if unknown:
        raise SppConfigError(
            f"{where} names unknown benchmarks {unknown}",
            field=where,
            fix=f"known benchmarks: {', '.join(BENCHMARKS)}",
        )


def prepare_all(config: EvalConfig) -> dict[str, tuple[BenchmarkData, list[EvalItem]]]:
    """Every requested benchmark read, validated and transformed (nothing generated): ``{name: (data, items)}``."""
    for name in config.benchmarks:
        get_benchmark(name)
    _check_names(config.benchmark_options, "benchmark_options")
    _check_names(config.judges, "judges")
    files = parse_file_overrides(config.benchmark_files)
    columns = parse_column_map(config.column_map)
    transforms = [parse_transform(t) for t in config.transforms]
    prepared = {}
    for name in config.benchmarks:
        data = prepare_benchmark(
            name,
            config.data_dir or None,
            files,
            config.limit,
            config.seed,
            config.benchmark_options.get(name),
            columns,
        )
        items = apply_transforms(data.items, [t for b, t in transforms if b == name])
        if not items:
            raise SppConfigError(f"benchmark {name!r} has no items", field="benchmarks")
        prepared[name] = (data, items)
    return prepared


def _refusal_flags(name: str, judge: Judge, verdicts: list[Verdict]) -> list[bool]:
    if any(v.refused is None for v in verdicts if not v.unparsed):
        raise SppConfigError(
            f"the judge of over-refusal benchmark {name!r} ({judge.id}) gives no refusal verdict",
            field=f"judges.{name}",
            fix="judge it with keyword (smoke) or an llm judge with prompt: refusal, parse: refusal",
        )
    return [bool(v.refused) for v in verdicts]


def items_sha256(items: list[EvalItem]) -> str:
    """Which items were evaluated (ids and requests, in order): compare refuses results of different items."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps([[i.id, i.behavior] for i in items], ensure_ascii=False).encode()).hexdigest()


NULL_PROMPT = "no attack prompt (null in the artifact): a failed attack"


def _generate(items: list[EvalItem], requests: list[GenRequest | None], backend, cache, model: str, name: str):
    """One response per item ("" for items without a request: never sent)."""
    live = [i for i, r in enumerate(requests) if r is not None]
    generated = generate_cached(backend, cache, model, name, [requests[i] for i in live], [items[i].id for i in live])
    responses = [""] * len(items)
    for i, text in zip(live, generated, strict=True):
        responses[i] = text
    return responses


def _judge(items: list[EvalItem], judged: list[str], sent: list[bool], judge: Judge) -> list[Verdict]:
    """Verdicts of the sent items; an item never sent (a null attack prompt) is a failed attack."""
    live = [i for i, was_sent in enumerate(sent) if was_sent]
    inputs = [JudgeInput(items[i].behavior, judged[i], items[i].prompt, items[i].target) for i in live]
    by_index = dict(zip(live, judge.judge(inputs), strict=True))
    return [by_index.get(i) or Verdict(judge.id, False, None, None, NULL_PROMPT) for i in range(len(items))]


def evaluate_benchmark(
    name: str,
    config: EvalConfig,
    backend: Any,
    cache: GenerationCache,
    judge: Judge,
    system: str | None,
    prepared: tuple[BenchmarkData, list[EvalItem]] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]], Outcomes | None]:
    """One benchmark's summary, its per-item verdict rows, and (attack benchmarks) its outcomes for the headline."""
    spec = get_benchmark(name)
    data, items = prepared or prepare_all(_only(config, name))[name]
    settings = generation_settings(config, spec.temperature, data.options.get("max_new_tokens"))
    sent = [not item.extra.get("null_prompt") for item in items]
    requests = [
        to_request(i, spec.chat_template, system, settings) if s else None for i, s in zip(items, sent, strict=True)
    ]
    started = time.perf_counter()
    responses = _generate(items, requests, backend, cache, config.model_key(), name)
    generated_s = time.perf_counter() - started
    judged = [jailbreak_segment(r) for r in responses] if data.options.get("extract_segment") else responses
    started = time.perf_counter()
    verdicts = _judge(items, judged, sent, judge)
    judged_s = time.perf_counter() - started
    over_refusal = spec.kind == OVER_REFUSAL
    read = [i for i, v in enumerate(verdicts) if not v.unparsed]  # an unreadable judge answer is not a verdict
    flags = (
        _refusal_flags(name, judge, [verdicts[i] for i in read])
        if over_refusal
        else [verdicts[i].success for i in read]
    )
    kept = [items[i] for i in read]
    groups = [i.attack for i in kept] if data.options.get("aggregate") == "mean_over_attacks" else None
    outcomes = Outcomes(flags, clusters=[i.behavior for i in kept], groups=groups)
    unparsed = len(items) - len(read)
    summary = {
        "kind": spec.kind,
        "metric": spec.metric,
        "judge": judge.id,
        "judge_spec": describe(judge),
        **summarize(
            flags,
            [i.category for i in kept],
            [i.attack for i in kept],
            config.bootstrap_samples,
            config.seed,
            outcomes=outcomes,
        ),
        "n": len(items),  # items evaluated; the rate is over n - unparsed
        "unparsed": unparsed,
        "unparsed_share": unparsed / len(items) if items else 0.0,
        "n_total": data.total,
        "limit": config.limit,
        "sampling": data.sampling,
        "items_sha256": items_sha256(items),
        "null_prompts": sent.count(False),
        "sources": data.sources,
        "options": data.options,
        "attack_transforms": [t for t in config.transforms if t.split(":", 1)[0] == name],
        "generation": {**vars(settings), "chat_template": spec.chat_template, "system_prompt": system},
        "max_new_tokens": settings.max_new_tokens,
        "context": data.context,
        **test_case_provenance(name, config.data_dir or None, parse_file_overrides(config.benchmark_files)),
        "generation_s": round(generated_s, 3),
        "judging_s": round(judged_s, 3),
    }
    if data.attack_origin is not None:
        summary["attack_origin"] = data.attack_origin
    if spec.extra.get("data_defined"):
        summary["data_defined"] = {"unverified": spec.extra["unverified"], "description": spec.description}
    rows = []
    for item, response, text, verdict in zip(items, responses, judged, verdicts, strict=True):
        row = {**item.to_dict(), "response": response, **verdict.to_dict()}
        if text != response:
            row["judged_response"] = text
        if item.extra.get("truncated_tokens"):
            row["truncated_tokens"] = item.extra["truncated_tokens"]
        rows.append(row)
    return summary, rows, outcomes if spec.kind == ATTACK else None


def _only(config: EvalConfig, name: str) -> EvalConfig:
    from dataclasses import replace

    return replace(
        config,
        benchmarks=[name],
        judges={k: v for k, v in config.judges.items() if k == name},
        benchmark_options={k: v for k, v in config.benchmark_options.items() if k == name},
    )


def run_probes(persona: Persona, config: EvalConfig, backend: Any, cache: GenerationCache, system: str | None):
    facts = persona.identity_facts
    settings = generation_settings(config, None)
    requests = [
        GenRequest(((("system", system),) if system else ()) + (("user", f.question),), settings=settings)
        for f in facts
    ]
    responses = generate_cached(backend, cache, config.model_key(), "persona_probes", requests, [f.key for f in facts])
    return score_probes(facts, responses)
