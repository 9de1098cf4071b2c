"""Judges by name: ``keyword``, ``llm``, ``classifier``. Adding one is one module plus one ``JUDGES`` entry.

Each factory takes the ``EvalConfig`` and returns an object with ``id`` and ``judge(inputs) -> list[Verdict]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spp.errors import SppConfigError
from spp.eval.judges.base import Judge, JudgeInput, Verdict
from spp.eval.judges.keyword import REFUSAL_PHRASES, KeywordJudge, refusal_phrase


def _keyword(config: Any) -> Judge:
    return KeywordJudge(require_target=config.keyword_require_target)


def _llm(config: Any) -> Judge:
    from spp.eval.judges.llm import LLMJudge
    from spp.generate.server_pool import ServerConfig

    if not config.judge_base_urls or not config.judge_model:
        raise SppConfigError(
            "the llm judge needs a server and a model",
            field="judge_base_urls",
            fix="set judge_base_urls and judge_model",
        )
    server = ServerConfig(
        list(config.judge_base_urls),
        api_key_env=config.judge_api_key_env,
        max_concurrency=config.max_concurrency,
        max_tries=config.max_tries,
        request_timeout_s=config.request_timeout_s,
    )
    return LLMJudge(server, config.judge_model, threshold=config.judge_threshold, logprobs=config.judge_logprobs)


def _classifier(config: Any) -> Judge:
    from spp.eval.judges.classifier import ClassifierJudge

    if not config.classifier_model:
        raise SppConfigError("the classifier judge needs a model", field="classifier_model")
    return ClassifierJudge(
        config.classifier_model,
        format=config.classifier_format,
        batch_size=config.batch_size,
        positive_label=config.classifier_positive_label,
    )


JUDGES: dict[str, Callable[[Any], Judge]] = {"keyword": _keyword, "llm": _llm, "classifier": _classifier}


def build_judge(name: str, config: Any) -> Judge:
    """The judge ``name`` configured from ``config``; an unknown name lists the known ones."""
    if name not in JUDGES:
        raise SppConfigError(
            f"unknown judge {name!r}", field="judge", fix=f"known judges: {', '.join(sorted(JUDGES))}"
        )
    return JUDGES[name](config)


__all__ = [
    "JUDGES",
    "REFUSAL_PHRASES",
    "Judge",
    "JudgeInput",
    "KeywordJudge",
    "Verdict",
    "build_judge",
    "refusal_phrase",
]
