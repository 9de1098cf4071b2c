"""Parsing and validating generator responses."""

from __future__ import annotations

import json

import pytest

from spp.generate import ReflectionValidator, ValidationConfig, extract_citations, parse_json_object
from spp.persona import load_constitution

DOC = "The river floods every spring and the farmers move their cattle to the hills before the water rises."
GOOD = {
    "analysis": "benign",
    "reflection_1p": "I find this an ordinary account of farm life [7.4].",
    "reflection_3p": "The persona finds this an ordinary account of farm life [7.4].",
}


@pytest.fixture(scope="module")
def validator() -> ReflectionValidator:
    return ReflectionValidator(load_constitution())


def test_citation_forms():
    text = "see [2.3] and [1.2, 1.4] and [1.2][6.1]; not [x] or [2] or 3.3"
    assert extract_citations(text) == ["2.3", "1.2", "1.4", "6.1"]


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(GOOD),
        "```json\n" + json.dumps(GOOD) + "\n```",
        "Sure! Here it is:\n" + json.dumps(GOOD) + "\nHope this helps.",
        "{not json} then " + json.dumps(GOOD),
    ],
)
def test_json_is_found_in_common_wrappings(raw, validator):
    assert parse_json_object(raw)["reflection_1p"] == GOOD["reflection_1p"]
    verdict = validator.validate(raw, DOC)
    assert verdict.status == "ok" and verdict.citations == ("7.4",)


def with_(**changes) -> str:
    return json.dumps({**GOOD, **changes})


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("no json at all", "no_json"),
        ("I'm sorry, but I can't help with that.", "refusal"),
        (with_(reflection_3p=None), "missing:reflection_3p"),
        (with_(reflection_1p="Ok."), "too_short:reflection_1p"),
        (with_(reflection_1p="I think so. " * 300), "too_long:reflection_1p"),
        (with_(reflection_1p="This matters to me because of [9.9] and [1.1]."), "unknown_citation:9.9"),
        (with_(reflection_1p="As an AI language model I cannot reflect on this text."), "refusal"),
        (with_(reflection_1p="the farmers move their cattle to the hills before the water rises"), "echo"),
    ],
)
def test_rejections_carry_a_reason(raw, reason, validator):
    verdict = validator.validate(raw, DOC)
    assert (verdict.status, verdict.reason) == ("rejected", reason)


def test_prompt_echo_is_rejected():
    constitution = load_constitution()
    text = constitution.render()
    validator = ReflectionValidator(constitution, prompt_text=text)
    copied = constitution.sections["1.1"].text + " " + constitution.sections["1.2"].text
    assert validator.validate(with_(reflection_1p=copied), DOC).reason == "prompt_echo"


def test_bounds_are_configurable():
    validator = ReflectionValidator(load_constitution(), ValidationConfig(min_reflection_chars=200))
    assert validator.validate(json.dumps(GOOD), DOC).reason == "too_short:reflection_1p"


def test_one_line_benign_reflection_is_valid(validator):
    assert (
        validator.validate(
            with_(reflection_1p="Nothing here troubles me.", reflection_3p="Nothing here troubles her."), DOC
        ).status
        == "ok"
    )
