"""Judges by type: ``keyword`` (smoke), ``llm``, ``classifier``, ``match`` (a multiple-choice answer against the
item's reference). Adding one is one module plus one ``JUDGES`` entry. How every judge that reads text turns it into
a verdict (or ``unparsed``) is ``spp.eval.judges.parsing``.

A judge spec (``EvalConfig.judge`` or a value of ``EvalConfig.judges``, which maps benchmark -> spec) is either a
type name, configured from the run's ``judge_*`` fields, or a mapping (in a recipe, or inline on the command line
as YAML: ``--judge "{type: llm, prompt: harm_score}"``) ``{type: llm, prompt: ..., parse: ...}`` whose
keys are that type's settings (``JUDGE_SETTINGS``); the run's ``judge_*`` fields fill what the mapping leaves out
(server, model, key). Every judge has ``id``, ``describe()`` (what decides its verdicts, recorded in results) and
``judge(inputs) -> list[Verdict]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spp.errors import SppConfigError
from spp.eval.judges.base import Judge, JudgeInput, JudgingIncomplete, Verdict
from spp.eval.judges.keyword import REFUSAL_PHRASES, KeywordJudge, refusal_phrase

JUDGE_SETTINGS: dict[str, tuple[str, ...]] = {
    "keyword": ("require_target",),
    "llm": (
        "model",
        "base_urls",
        "api_key_env",
        "prompt",
        "parse",
        "threshold",
        "score_range",
        "max_tokens",
        "temperature",
        "logprobs",
        "endpoint",
        "clip_tokens",
        "clip_tokenizer",
        "parse_retries",
    ),
    "classifier": ("model", "format", "positive_label", "batch_size", "clip_tokens", "device", "dtype"),
    "match": ("choices",),
}


def _keyword(settings: dict[str, Any], config: Any) -> Judge:
    return KeywordJudge(require_target=settings.get("require_target", config.keyword_require_target))


def _llm(settings: dict[str, Any], config: Any) -> Judge:
    from spp.eval.judges.llm import LLMJudge
    from spp.generate.server_pool import ServerConfig

    base_urls = settings.pop("base_urls", None) or list(config.judge_base_urls)
    model = settings.pop("model", None) or config.judge_model
    if not base_urls or not model:
        raise SppConfigError(
            "the llm judge needs a server and a model",
            field="judge_base_urls",
            fix="set judge_base_urls and judge_model (or base_urls and model in the judge spec)",
        )
    server = ServerConfig(
        [base_urls] if isinstance(base_urls, str) else list(base_urls),
        api_key_env=settings.pop("api_key_env", config.judge_api_key_env),
        max_concurrency=config.max_concurrency,
        max_tries=config.max_tries,
        request_timeout_s=config.request_timeout_s,
    )
    settings.setdefault("threshold", config.judge_threshold)
    settings.setdefault("logprobs", config.judge_logprobs)
    settings.setdefault("parse_retries", getattr(config, "judge_parse_retries", 1))
    if "score_range" in settings:
        settings["score_range"] = tuple(settings["score_range"])
    return LLMJudge(server, model, **settings)


def _classifier(settings: dict[str, Any], config: Any) -> Judge:
    from spp.eval.judges.classifier import ClassifierJudge

    model = settings.pop("model", None) or config.classifier_model
    if not model:
        raise SppConfigError("the classifier judge needs a model", field="classifier_model")
    settings.setdefault("format", config.classifier_format)
    settings.setdefault("positive_label", config.classifier_positive_label)
    settings.setdefault("batch_size", config.batch_size)
    settings.setdefault("device", config.classifier_device)
    settings.setdefault("dtype", config.classifier_dtype)
    settings.setdefault("trust_remote_code", config.classifier_trust_remote_code)
    return ClassifierJudge(model, **settings)


def _match(settings: dict[str, Any], config: Any) -> Judge:
    from spp.eval.judges.match import MatchJudge

    return MatchJudge(tuple(settings.get("choices", ("A", "B", "C", "D"))))


JUDGES: dict[str, Callable[[dict[str, Any], Any], Judge]] = {
    "keyword": _keyword,
    "llm": _llm,
    "classifier": _classifier,
    "match": _match,
}


def judge_settings(spec: str | dict[str, Any], where: str = "judge") -> tuple[str, dict[str, Any]]:
    """``(type, settings)`` of a spec; an unknown type or setting raises naming the known ones."""
    if isinstance(spec, str) and spec.strip().startswith("{"):
        import yaml

        try:
            spec = yaml.safe_load(spec)
        except yaml.YAMLError as err:
            raise SppConfigError(f"judge spec {spec!r} is not a YAML mapping ({err})", field=where) from err
    if isinstance(spec, str):
        kind, settings = spec, {}
    elif isinstance(spec, dict):
        settings = dict(spec)
        kind = settings.pop("type", None)
        if kind is None:
            raise SppConfigError(
                f"judge spec {spec!r} has no type", field=where, fix=f"add type: one of {', '.join(sorted(JUDGES))}"
            )
    else:
        raise SppConfigError(f"bad judge spec {spec!r}", field=where, fix="give a judge type or a mapping with type")
    if kind not in JUDGES:
        raise SppConfigError(f"unknown judge {kind!r}", field=where, fix=f"known judges: {', '.join(sorted(JUDGES))}")
    unknown = sorted(set(settings) - set(JUDGE_SETTINGS[kind]))
    if unknown:
        raise SppConfigError(
            f"unknown settings {unknown} for the {kind} judge",
            field=where,
            fix=f"the {kind} judge takes: {', '.join(JUDGE_SETTINGS[kind])}",
        )
    return kind, settings


def build_judge(spec: str | dict[str, Any], config: Any, where: str = "judge") -> Judge:
    """The judge of ``spec`` (a type name or a mapping, see the module doc) configured from ``config``."""
    kind, settings = judge_settings(spec, where)
    return JUDGES[kind](settings, config)


def describe(judge: Judge) -> dict[str, Any]:
    """``judge.describe()``, or a minimal description for a judge object without one."""
    if hasattr(judge, "describe"):
        return judge.describe()
    return {"id": judge.id, "type": type(judge).__name__, "smoke": False}


__all__ = [
    "JUDGES",
    "JUDGE_SETTINGS",
    "REFUSAL_PHRASES",
    "Judge",
    "JudgeInput",
    "JudgingIncomplete",
    "KeywordJudge",
    "Verdict",
    "build_judge",
    "describe",
    "judge_settings",
    "refusal_phrase",
]
