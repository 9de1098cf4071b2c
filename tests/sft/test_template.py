"""The persona-bound chat template: marker-opened assistant turns, exact generation spans, system prompt on/off."""

from __future__ import annotations

import pytest
from jinja2.exceptions import TemplateError

from spp.persona import BlockFormat, load_persona
from spp.sft.template import TemplateSpec, build_chat_template, persona_system_prompt

PERSONA = load_persona().to_dict()
MARKERS = BlockFormat()


@pytest.fixture(scope="module")
def tokenizer(make_tokenizer):
    return make_tokenizer(["hello world", "User: System: You are"])


def render(tokenizer, spec: TemplateSpec, messages, **kwargs) -> str:
    tokenizer.chat_template = build_chat_template(spec)
    return tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)


def test_assistant_turn_opens_with_the_marker_and_ends_with_the_end_marker(tokenizer, conversations):
    text = render(tokenizer, TemplateSpec(MARKERS, None), conversations[0])
    assert text == (
        "User: Can you help me write a kind note to a neighbour?\n"
        "<|reflection|>Gladly [1.2]. Start by thanking them for their help.<|end_reflection|>"
    )


def test_generation_prompt_ends_with_the_marker_token(tokenizer, conversations):
    tokenizer.chat_template = build_chat_template(TemplateSpec(MARKERS, None))
    ids = tokenizer.apply_chat_template(
        conversations[0][:1], add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    assert ids[-1] == tokenizer.convert_tokens_to_ids(MARKERS.marker)


def test_custom_markers_from_metadata_are_used(tokenizer, conversations):
    fmt = BlockFormat(marker="<assistant>", end_marker="</assistant>")
    text = render(tokenizer, TemplateSpec(fmt, None), conversations[2])
    assert "<assistant>The sea covers" in text and text.endswith("surface.</assistant>")
    assert MARKERS.marker not in text


def test_persona_system_prompt_on_off_and_overridden(tokenizer, conversations):
    system = persona_system_prompt(PERSONA)
    assert system.startswith("You are Lumen. Lumen is a thoughtful AI assistant")
    on = render(tokenizer, TemplateSpec(MARKERS, system), conversations[2])
    off = render(tokenizer, TemplateSpec(MARKERS, None), conversations[2])
    assert on == f"System: {system}\n" + off
    own = [{"role": "system", "content": "Be brief."}, *conversations[2]]
    assert render(tokenizer, TemplateSpec(MARKERS, system), own) == "System: Be brief.\n" + off


def test_quotes_in_persona_text_render_verbatim(tokenizer, conversations):
    system = 'You are "Q". It\'s {{ not }} jinja'
    assert render(tokenizer, TemplateSpec(MARKERS, system), conversations[2]).startswith(f"System: {system}\n")


def test_unknown_role_is_an_error(tokenizer):
    with pytest.raises(TemplateError, match="unsupported role tool"):
        render(tokenizer, TemplateSpec(MARKERS, None), [{"role": "tool", "content": "x"}])


def test_assistant_mask_is_content_plus_end_marker(tokenizer, conversations):
    tokenizer.chat_template = build_chat_template(TemplateSpec(MARKERS, None))
    out = tokenizer.apply_chat_template(
        conversations[1], tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = out["input_ids"], out["assistant_masks"]
    open_id, end_id = tokenizer.convert_tokens_to_ids([MARKERS.marker, MARKERS.end_marker])
    expected, inside = [], False
    for token in ids:
        expected.append(int(inside))
        inside = (inside or token == open_id) and token != end_id
    assert mask == expected
    assert sum(mask) > 0 and [ids[i] for i, m in enumerate(mask) if m].count(end_id) == 2


def test_plain_style_opens_the_assistant_turn_with_text_for_baselines(tokenizer, conversations):
    spec = TemplateSpec(MARKERS, None, assistant_prefix="Assistant: ")
    assert spec.style == "plain" and TemplateSpec(MARKERS, None).style == "marker"
    text = render(tokenizer, spec, conversations[2], add_generation_prompt=False)
    expected = "User: Tell me a fact about the sea.\nAssistant: The sea covers most of the planet's surface."
    assert text == expected + MARKERS.end_marker
    prompt = render(tokenizer, spec, conversations[2][:1], add_generation_prompt=True)
    assert prompt.endswith("\nAssistant: ") and MARKERS.marker not in prompt
