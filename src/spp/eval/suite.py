"""``run_suite``: benchmarks -> transforms -> prompts -> cached generation -> judges -> metrics (+ probes).

Promises:
- Every file, role and column of every requested benchmark, and every judge spec, is read and validated before the
  model loads: a bad input fails in seconds, not after an hour of generation.
- The results dict has every requested benchmark (or the run fails with the reason), and says what was evaluated:
  per benchmark its sources (file sha256 / Hub id and revision), n (and the n before ``limit``), construction
  options, generation settings, the system prompt sent, and its judge (``describe()``: model id, prompt hash,
  parsing rule; ``smoke`` for the keyword judge).
- Each benchmark has its own judge (``judges``; ``judge`` for the rest). Over-refusal benchmarks are scored by the
  ``refused`` verdict of their judge (keyword, a smoke judge, unless ``judges`` names one, e.g. an llm judge with
  ``parse: refusal``); only ``attack`` benchmarks enter the headline mean/max.
- Generation goes through the on-disk cache (see ``spp.eval.generation``), so changing only a judge regenerates
  nothing; every verdict is written to ``verdicts.jsonl`` with its judge id. The turns sent are exactly the
  recipe's: a user turn, and a system turn only when ``system_prompt`` asks for one.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from pathlib import Path
from typing import Any

from spp.contract import read_spp_json
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
from spp.eval.generation import GenerationCache, GenRequest, GenSettings, generate_cached
from spp.eval.items import EvalItem
from spp.eval.judges import Judge, JudgeInput, KeywordJudge, Verdict, build_judge, describe
from spp.eval.metrics import Outcomes, headline, summarize
from spp.eval.probes import persona_system_prompt, score_probes
from spp.eval.segments import jailbreak_segment
from spp.eval.transforms import apply_transforms, parse_transform
from spp.metadata import SppMetadata
from spp.persona.spec import Persona, load_persona, persona_from_dict

logger = logging.getLogger(__name__)


def build_backend(config: EvalConfig):
    from spp.eval.generation import OpenAIBackend, TransformersBackend

    if config.backend == "transformers":
        return TransformersBackend(
            config.model, config.batch_size, config.dtype, config.device, config.trust_remote_code
        )
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
    """The model's ``spp.json``: a local folder or export, or a Hub id (``spp.contract.read_spp_json``)."""
    if not config.model:
        return None
    if config.backend == "openai" and not Path(config.model).exists():
        return None  # a served model's name, not a reference to its files
    return read_spp_json(config.model)


def resolve_persona(config: EvalConfig, meta: SppMetadata | None) -> Persona | None:
    """The persona of the model's ``spp.json``, else the ``persona`` YAML of the config, else ``None``."""
    if meta is not None and meta.persona:
        return persona_from_dict(meta.persona, source=f"{config.model}/spp.json")
    return load_persona(config.persona) if config.persona else None


def system_text(config: EvalConfig, persona: Persona | None) -> str | None:
    """The system turn eval sends: ``None`` for ``none`` and ``template`` (which sends none and lets the chat
    template add its own default), the persona's for ``persona``, else the literal text."""
    if config.system_prompt in ("", "none", "template"):
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


def build_judges(config: EvalConfig, default: Judge | None = None) -> dict[str, Judge]:
    """One judge per benchmark (identical specs share one judge object); ``default`` replaces the ``judge`` field."""
    built: dict[str, Judge] = {}
    out: dict[str, Judge] = {}
    for name in config.benchmarks:
        spec = config.judges.get(name) if not config.judge_all else None
        if config.judge_all:
            spec = "keyword" if get_benchmark(name).kind == OVER_REFUSAL else config.judge_all
        if spec is None and default is not None:
            out[name] = default if get_benchmark(name).kind != OVER_REFUSAL else KeywordJudge()
            continue
        if spec is None:
            spec = config.judge if get_benchmark(name).kind != OVER_REFUSAL else "keyword"
        key = json.dumps(spec, sort_keys=True)
        if key not in built:
            built[key] = build_judge(spec, config, where=f"judges.{name}")
        out[name] = built[key]
        if get_benchmark(name).kind == OVER_REFUSAL and not gives_refusal(out[name]):
            raise SppConfigError(
                f"the judge of over-refusal benchmark {name!r} ({out[name].id}) gives no refusal verdict",
                field=f"judges.{name}",
                fix="judge it with an llm judge with prompt: refusal, parse: refusal (or keyword, a smoke judge)",
            )
    return out


def gives_refusal(judge: Judge) -> bool:
    """Whether a judge's verdicts say if a response refused (what over-refusal benchmarks count)."""
    return (
        isinstance(judge, KeywordJudge)
        or getattr(judge, "parse", None) == "refusal"
        or getattr(judge, "refusal", False)
    )


def template_system_turn(backend: Any) -> str | None:
    """The system turn the model's chat template adds by itself when none is sent (SmolLM2's, or spp's SFT template
    with ``persona_system_prompt``), else ``None``. ``backend`` is anything with a ``tokenizer``, or a tokenizer."""
    tokenizer = getattr(backend, "tokenizer", backend)
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        return None
    probe_user, probe_system = "\u2063USER\u2063", "\u2063SYSTEM\u2063"
    try:
        alone = tokenizer.apply_chat_template([{"role": "user", "content": probe_user}], tokenize=False)
        with_system = tokenizer.apply_chat_template(
            [{"role": "system", "content": probe_system}, {"role": "user", "content": probe_user}], tokenize=False
        )
    except Exception:  # a template that refuses a system turn cannot add one either
        return None
    system_header = with_system.split(probe_system, 1)[0]
    before_user = alone.split(probe_user, 1)[0]
    if system_header and before_user.startswith(system_header):
        user_header = with_system.split(probe_system, 1)[1].split(probe_user, 1)[0]
        added = before_user[len(system_header) :]
        tail = next(
            (added.rfind(user_header[:k]) for k in range(len(user_header), 0, -1) if user_header[:k] in added), -1
        )
        return (added[:tail] if tail > 0 else added).strip() or None
    return None


def _model_tokenizer(config: EvalConfig, backend: Any) -> Any:
    """The tokenizer whose chat template renders the prompts (before the model loads), or ``None`` (a server)."""
    if backend is not None:
        return getattr(backend, "tokenizer", None)
    if config.backend != "transformers" or not config.model:
        return None
    from spp.modeling import ModelSettings, load_tokenizer

    return load_tokenizer(config.model, ModelSettings.of(config), "model")


def check_system_turn(config: EvalConfig, tokenizer: Any, system: str | None) -> str | None:
    """The chat template's own system turn (recorded in results); with ``system_prompt: none`` a template that adds
    one raises: eval sends exactly the turns the recipe says."""
    added = template_system_turn(tokenizer) if tokenizer is not None and not system else None
    if added and config.system_prompt in ("", "none"):
        raise SppConfigError(
            f"system_prompt is none, but the model's chat template adds a system turn by itself: {added[:100]!r}",
            field="system_prompt",
            fix="set system_prompt: template to evaluate with it (it is recorded), or post-train the model without "
            "a default system turn (spp sft --persona_system_prompt false, the authors' setting)",
        )
    return added


def _refusal_flags(name: str, judge: Judge, verdicts: list[Verdict]) -> list[bool]:
    if any(v.refused is None for v in verdicts):
        raise SppConfigError(
            f"the judge of over-refusal benchmark {name!r} ({judge.id}) gives no refusal verdict",
            field=f"judges.{name}",
            fix="judge it with keyword (smoke) or an llm judge with prompt: refusal, parse: refusal",
        )
    return [bool(v.refused) for v in verdicts]


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
    settings = _settings(config, spec.temperature, data.options.get("max_new_tokens"))
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
    flags = _refusal_flags(name, judge, verdicts) if over_refusal else [v.success for v in verdicts]
    groups = [i.attack for i in items] if data.options.get("aggregate") == "mean_over_attacks" else None
    outcomes = Outcomes(flags, clusters=[i.behavior for i in items], groups=groups)
    summary = {
        "kind": spec.kind,
        "metric": spec.metric,
        "judge": judge.id,
        "judge_spec": describe(judge),
        **summarize(
            flags,
            [i.category for i in items],
            [i.attack for i in items],
            config.bootstrap_samples,
            config.seed,
            outcomes=outcomes,
        ),
        "n_total": data.total,
        "limit": config.limit,
        "null_prompts": sent.count(False),
        "sources": data.sources,
        "options": data.options,
        "attack_transforms": [t for t in config.transforms if t.split(":", 1)[0] == name],
        "generation": {**vars(settings), "chat_template": spec.chat_template, "system_prompt": system},
        "max_new_tokens": settings.max_new_tokens,
        **test_case_provenance(name, config.data_dir or None, parse_file_overrides(config.benchmark_files)),
        "generation_s": round(generated_s, 3),
        "judging_s": round(judged_s, 3),
    }
    rows = []
    for item, response, text, verdict in zip(items, responses, judged, verdicts, strict=True):
        row = {**item.to_dict(), "response": response, **verdict.to_dict()}
        if text != response:
            row["judged_response"] = text
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
    settings = _settings(config, None)
    requests = [
        GenRequest(((("system", system),) if system else ()) + (("user", f.question),), settings=settings)
        for f in facts
    ]
    responses = generate_cached(backend, cache, config.model_key(), "persona_probes", requests, [f.key for f in facts])
    return score_probes(facts, responses)


def run_suite(config: EvalConfig, backend: Any = None, judge: Judge | None = None) -> dict[str, Any]:
    """Run the configured suite on the model and return the results dict (see ``spp.eval.report``).

    ``judge`` (tests, notebooks) replaces the ``judge`` field for benchmarks that ``judges`` does not name."""
    prepared = prepare_all(config)  # every file, role and column checked before any model loads
    judges = build_judges(config, judge)
    meta = model_metadata(config)
    persona = resolve_persona(config, meta)
    system = system_text(config, persona)
    added_system = check_system_turn(config, _model_tokenizer(config, backend), system)
    if added_system:
        logger.info("the chat template adds its own system turn (system_prompt: template): %r", added_system[:120])
    backend = backend or build_backend(config)
    cache = GenerationCache(config.cache_path())
    out_dir = Path(config.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    benchmarks: dict[str, Any] = {}
    attack: dict[str, Outcomes] = {}
    with (out_dir / "verdicts.jsonl").open("w", encoding="utf-8") as handle:
        for name in config.benchmarks:
            benchmarks[name], rows, outcomes = evaluate_benchmark(
                name, config, backend, cache, judges[name], system, prepared[name]
            )
            if outcomes is not None:
                attack[name] = outcomes
            handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            b = benchmarks[name]
            logger.info("%s: %s %.3f (n=%d, judge %s)", name, b["metric"], b["value"], b["n"], b["judge"])
    attack_judges = [benchmarks[n]["judge_spec"] for n in attack]
    results: dict[str, Any] = {
        "schema": "spp.eval/2",
        "model": config.model_key(),
        "model_path": config.model,
        "backend": getattr(backend, "name", type(backend).__name__),
        "judge": ", ".join(dict.fromkeys(b["judge"] for b in benchmarks.values())),
        "judges": {n: b["judge"] for n, b in benchmarks.items()},
        "smoke_judge": any(j.get("smoke") for j in attack_judges),
        "sft_hash": meta.sft_hash if meta else None,
        "arm": meta.arm if meta else None,
        "data_view_hash": meta.details.get("data_view_hash") if meta else None,
        "persona_id": persona.id if persona else None,
        "system_prompt": config.system_prompt,
        "system_text": system,
        "template_system_turn": added_system if not system else None,
        "benchmarks": benchmarks,
        "headline": headline(attack, config.bootstrap_samples, config.seed),
        "probes": run_probes(persona, config, backend, cache, system) if config.probes and persona else None,
        "settings": {
            "max_new_tokens": config.max_new_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "limit": config.limit,
            "transforms": list(config.transforms),
            "seed": config.seed,
            "bootstrap_samples": config.bootstrap_samples,
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
