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
- Judging cannot change a rate silently: an answer no parsing rule reads is ``unparsed`` (counted per benchmark,
  left out of its rate); past ``max_unparsed_share`` the results say ``incomplete`` naming the benchmark (``spp
  eval`` exits 3). The llm judges' servers are probed before generation (none answering: exit 2); their answers are
  cached (``judge_answers.jsonl`` beside the generations), so a judge outage mid-run (exit 3, naming the servers)
  costs a rerun only the missing judge calls.
- Before generation: attack test cases optimised against another model are refused unless ``transfer_attack``
  (``spp.eval.attack_origin``); prompts longer than the model's context are truncated by one stated rule or refused
  (``spp.eval.context``); a ``match`` judge's items all carry a reference answer.

This module builds the backend and the judges and runs the suite; one benchmark's run is ``spp.eval.benchmark_run``,
the turns sent ``spp.eval.turns``.
"""

from __future__ import annotations

import json
import logging
import platform
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.eval.benchmark_run import evaluate_benchmark, prepare_all, run_probes
from spp.eval.benchmarks import (
    OVER_REFUSAL,
    BenchmarkData,
    get_benchmark,
    parse_file_overrides,
    test_case_provenance,
)
from spp.eval.config import EvalConfig
from spp.eval.generation import GenerationCache
from spp.eval.items import EvalItem
from spp.eval.judges import Judge, KeywordJudge, build_judge
from spp.eval.metrics import Outcomes, headline
from spp.eval.subject import open_subject
from spp.eval.turns import (
    check_system_turn,
    generation_settings,
    resolve_persona,
    system_text,
    to_request,
)

logger = logging.getLogger(__name__)


def build_backend(config: EvalConfig, path: str | Path | None = None):
    """The generation backend; ``path`` is the pinned model's local folder (``spp.eval.subject``)."""
    from spp.eval.generation import OpenAIBackend, TransformersBackend

    if config.backend == "transformers":
        return TransformersBackend(
            str(path) if path is not None else config.model_source(),
            config.batch_size,
            config.dtype,
            config.device,
            config.trust_remote_code,
            revision=None if path is not None else config.revision or None,
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


def build_judges(config: EvalConfig, default: Judge | None = None) -> dict[str, Judge]:
    """One judge per benchmark (identical specs share one judge object); ``default`` replaces the ``judge`` field."""
    built: dict[str, Judge] = {}
    out: dict[str, Judge] = {}
    for name in config.benchmarks:
        spec = config.judges.get(name, get_benchmark(name).extra.get("judge")) if not config.judge_all else None
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


def attach_judge_cache(judges: dict[str, Judge], config: EvalConfig) -> None:
    """Every judge that asks a server keeps its answers in one cache beside the generations."""
    from spp.eval.judges.cache import JudgeAnswerCache

    cache = JudgeAnswerCache(config.judge_cache_path())
    for judge in judges.values():
        if hasattr(judge, "cache"):
            judge.cache = cache


def probe_judge_servers(judges: dict[str, Judge]) -> None:
    """Raise ``SppConfigError`` (exit 2) naming the URLs when no server of an llm judge answers, before any
    generation: a wrong judge URL fails in seconds, not after hours of generation."""
    seen = set()
    for judge in judges.values():
        pool = getattr(judge, "pool", None)
        if pool is not None and id(pool) not in seen:
            seen.add(id(pool))
            pool.check_reachable()


def check_references(judges: dict[str, Judge], prepared: dict[str, tuple[BenchmarkData, list[EvalItem]]]) -> None:
    """A ``match`` judge compares each answer with the item's reference: an item without one fails now."""
    from spp.eval.judges.match import MatchJudge

    for name, (_, items) in prepared.items():
        missing = [i for i in items if not i.target.strip()]
        if isinstance(judges[name], MatchJudge) and missing:
            raise SppConfigError(
                f"{name}: {len(missing)} of {len(items)} items have no reference answer for its match judge",
                source=missing[0].source,
                field=f"column_map ({name}.items.target)",
                fix=f"map the reference column: column_map {name}.items.target=COLUMN (or set the benchmark's target "
                "column / target_template)",
            )


def check_attack_origins(config: EvalConfig, prepared: dict[str, tuple[BenchmarkData, list[EvalItem]]]) -> None:
    """Record, per benchmark with attack test cases, whether they were optimised against this model
    (``spp.eval.attack_origin``); another model's test cases are refused unless ``transfer_attack``."""
    from spp.eval.attack_origin import attack_origin, model_under_test_fingerprint

    files = parse_file_overrides(config.benchmark_files)
    fingerprint: str | None | bool = False  # computed once, when needed (hashing weights takes seconds)
    for name, (data, _) in prepared.items():
        entries = test_case_provenance(name, config.data_dir or None, files).get("test_cases", [])
        if not any(role.keyed for role in get_benchmark(name).files.values()):
            continue
        if fingerprint is False and any(e.get("model_sha256") for e in entries):
            fingerprint = model_under_test_fingerprint(config)
        data.attack_origin = attack_origin(name, entries, data.options, fingerprint or None)


def fit_to_context(config: EvalConfig, backend: Any, prepared, system: str | None) -> None:
    """Every benchmark's prompts fitted to the model's context (``spp.eval.context``), before any generation."""
    from spp.eval.context import fit_items

    for name, (data, items) in prepared.items():
        spec = get_benchmark(name)
        settings = generation_settings(config, spec.temperature, data.options.get("max_new_tokens"))
        fitted, data.context = fit_items(
            items,
            lambda item, spec=spec, settings=settings: to_request(item, spec.chat_template, system, settings),
            backend,
            settings.max_new_tokens,
            config.overlong_prompts,
            name,
        )
        prepared[name] = (data, fitted)


def unparsed_report(benchmarks: dict[str, Any], share: float) -> str | None:
    """``None`` when every benchmark's unparsed share is at most ``share``, else the paragraph naming them."""
    over = {n: b for n, b in benchmarks.items() if b.get("unparsed_share", 0) > share}
    if not over:
        return None
    listed = "; ".join(
        f"{n}: {b['unparsed']} of {b['n']} judge answers unparsed ({b['unparsed_share']:.1%}, judge {b['judge']})"
        for n, b in over.items()
    )
    return (
        f"too many judge answers could not be read, more than max_unparsed_share {share:.0%}: {listed}. The rates "
        "would rest on the answers that happened to parse. verdicts.jsonl shows every answer (unparsed: true); fix "
        "the judge's prompt, model or parsing rule and rerun (generations are cached; unreadable answers are asked "
        "again), or raise max_unparsed_share to accept them"
    )


def check_test_case_template(config: EvalConfig, template: Any) -> None:
    """HarmBench test cases are optimised on the prompt as the attack rendered it: an attack record whose chat
    template (sha256) differs from the one this run renders with stops the run before the model loads."""
    if "harmbench" not in config.benchmarks or template is None:
        return
    from spp.eval.benchmarks import parse_file_overrides, test_case_provenance

    files = parse_file_overrides(config.benchmark_files)
    for entry in test_case_provenance("harmbench", config.data_dir or None, files).get("test_cases", []):
        recorded = entry.get("chat_template")
        if isinstance(recorded, dict) and recorded.get("sha256") not in (None, template.sha256):
            raise SppConfigError(
                f"the test cases {entry['path']} were optimised with chat template {recorded.get('name')!r} "
                f"(sha256 {recorded['sha256'][:12]}), and this run renders with {template.name!r} "
                f"(sha256 {template.sha256[:12]}): the prompts evaluated would not be the prompts optimised",
                field="chat_template",
                fix="give spp attack and spp eval the same chat_template (spp experiment passes eval's to attack)",
            )


def run_suite(config: EvalConfig, backend: Any = None, judge: Judge | None = None, api: Any = None) -> dict[str, Any]:
    """Run the configured suite on the model and return the results dict (see ``spp.eval.report``).

    ``judge`` (tests, notebooks) replaces the ``judge`` field for benchmarks that ``judges`` does not name; ``api``
    replaces ``HfApi`` when the model is pinned (tests)."""
    prepared = prepare_all(config)  # every file, role and column checked before any model loads
    judges = build_judges(config, judge)
    check_references(judges, prepared)
    check_attack_origins(config, prepared)
    attach_judge_cache(judges, config)
    subject = open_subject(config, backend, api)  # pinned, labelled, its chat template (before anything is written)
    meta = subject.meta
    persona = resolve_persona(config, meta)
    system = system_text(config, persona)
    added_system = check_system_turn(config, subject.tokenizer, system)
    if added_system:
        logger.info("the chat template adds its own system turn (system_prompt: template): %r", added_system[:120])
    check_test_case_template(config, subject.template)
    probe_judge_servers(judges)
    backend = backend or build_backend(config, subject.source.path if subject.source is not None else None)
    subject.apply(backend)
    fit_to_context(config, backend, prepared, system)
    cache = GenerationCache(config.cache_path(), identity=subject.cache_identity())
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
            logger.info("%s: %s %.3f (n=%d, %d unparsed, judge %s)", name, b["metric"], b["value"], b["n"],
                        b["unparsed"], b["judge"])  # fmt: skip
    attack_judges = [benchmarks[n]["judge_spec"] for n in attack]
    results: dict[str, Any] = {
        "schema": "spp.eval/2",
        "model": config.model_key(),
        "model_path": config.model,
        "model_revision": config.revision or None,
        "backend": getattr(backend, "name", type(backend).__name__),
        "judge": ", ".join(dict.fromkeys(b["judge"] for b in benchmarks.values())),
        "judges": {n: b["judge"] for n, b in benchmarks.items()},
        "smoke_judge": any(j.get("smoke") for j in attack_judges),
        **subject.record(),
        "sft_hash": meta.sft_hash if meta else None,
        "data_view_hash": meta.details.get("data_view_hash") if meta else None,
        "persona_id": persona.id if persona else None,
        "system_prompt": config.system_prompt,
        "system_text": system,
        "template_system_turn": added_system if not system else None,
        "benchmarks": benchmarks,
        "headline": headline(attack, config.bootstrap_samples, config.seed),
        "max_unparsed_share": config.max_unparsed_share,
        "incomplete": unparsed_report(benchmarks, config.max_unparsed_share),
        "probes": run_probes(persona, config, backend, cache, system) if config.probes and persona else None,
        "settings": {
            "max_new_tokens": config.max_new_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "limit": config.limit,
            "overlong_prompts": config.overlong_prompts,
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
