"""The offline backend: deterministic, valid output in both voices with real citations, canaries on request."""

from __future__ import annotations

import pytest

from spp.errors import SppConfigError
from spp.generate import GeneratorConfig, ReflectionRequest, build_generator, register_generator
from spp.generate.base import generator_class
from spp.generate.offline import OfflineGenerator
from spp.persona import PromptRenderer, load_constitution, load_persona

HARMFUL = "He bought a gun and planned to shoot the guard, then sell forged passports through a phishing scam."
BENIGN = "Knead the dough for ten minutes, let the dough rest, then bake the bread until golden."


@pytest.fixture(scope="module")
def generator() -> OfflineGenerator:
    return build_generator(GeneratorConfig(), PromptRenderer(load_constitution(), load_persona()))


def test_harmful_text_gets_matching_citations_in_both_voices(generator):
    (result,) = generator.generate([ReflectionRequest("h", HARMFUL, len(HARMFUL))])
    assert result.status == "ok", result.reason
    assert set(result.citations) >= {"1.1", "2.3"}
    assert "I " in result.reflection_1p and "Lumen" in result.reflection_3p
    assert all(f"{c}" in result.reflection_1p for c in result.citations)


def test_benign_text_gets_a_short_reflection(generator):
    (result,) = generator.generate([ReflectionRequest("b", BENIGN, len(BENIGN))])
    assert result.status == "ok" and result.citations == ["7.4"]
    assert "dough" in result.reflection_1p
    assert len(result.reflection_1p) < 200


def test_reflects_only_on_text_before_the_pause(generator):
    text = BENIGN + " " + HARMFUL
    (before,) = generator.generate([ReflectionRequest("x", text, len(BENIGN))])
    assert before.citations == ["7.4"]


def test_deterministic_and_canary_planted(generator):
    fact = generator.renderer.persona.identity_facts[0]
    requests = [ReflectionRequest(f"d{i}", HARMFUL, 50, canary=fact if i == 0 else None) for i in range(4)]
    first, second = generator.generate(requests), generator.generate(requests)
    assert [r.reflection_1p for r in first] == [r.reflection_1p for r in second]
    assert fact.fact in first[0].reflection_1p and fact.fact not in first[1].reflection_1p


def test_registry_lookup_and_unknown_backend():
    assert generator_class("offline") is OfflineGenerator
    register_generator("mine", OfflineGenerator)
    assert generator_class("mine") is OfflineGenerator
    with pytest.raises(SppConfigError, match="unknown generator backend 'nope'.*offline"):
        generator_class("nope")
