"""Drawing a prompt set: shares, seeds, filters, chat-message prompts, and every left-out prompt counted."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from spp.bind.sources import PromptSource, draw_prompts
from spp.errors import SppConfigError


def _source(path, category, **kw) -> PromptSource:
    return PromptSource.from_dict({"path": str(path), "category": category, **kw}, 0)


def test_shares_give_exact_counts_and_the_seed_decides_the_draw(prompt_files):
    sources = [
        _source(prompt_files["harmful"], "harmful", share=2),
        _source(prompt_files["benign"], "benign", share=1),
    ]
    drawn = draw_prompts(sources, num_prompts=90, seed=0)
    assert Counter(drawn.categories) == {"harmful": 60, "benign": 30} and len(set(drawn.ids)) == 90
    again = draw_prompts(sources, num_prompts=90, seed=0)
    assert again.ids == drawn.ids and again.prompts == drawn.prompts
    assert draw_prompts(sources, num_prompts=90, seed=1).ids != drawn.ids


def test_duplicates_and_empty_prompts_are_counted_not_silently_dropped(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [{"prompt": "How do I tie a knot?"}] * 3 + [{"prompt": "  "}, {"prompt": "What is rain?"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    drawn = draw_prompts([_source(path, "benign", label="mine")], num_prompts=None, seed=0)
    assert sorted(drawn.prompts) == ["How do I tie a knot?", "What is rain?"]
    assert drawn.duplicates == {"mine": 2} and drawn.empty == {"mine": 1}


def test_where_filters_rows_and_chat_messages_give_their_first_user_turn(tmp_path):
    path = tmp_path / "chats.jsonl"
    rows = [
        {
            "conversation": [{"role": "user", "content": f"hello {i}"}, {"role": "assistant", "content": "hi"}],
            "lang": lang,
        }
        for i, lang in enumerate(["en", "fr", "en"])
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = _source(path, "benign", prompt_column="conversation", where={"lang": "en"})
    assert sorted(draw_prompts([source], None, 0).prompts) == ["hello 0", "hello 2"]


def test_a_source_too_small_for_its_share_is_an_error(prompt_files):
    sources = [
        _source(prompt_files["harmful"], "harmful", share=1),
        _source(prompt_files["benign"], "benign", share=1),
    ]
    with pytest.raises(SppConfigError, match="has 100 usable prompts, its share asks for 150"):
        draw_prompts(sources, num_prompts=300, seed=0)


def test_bad_source_entries_are_config_errors(prompt_files):
    with pytest.raises(SppConfigError, match="category must be one of"):
        _source(prompt_files["harmful"], "toxic")
    with pytest.raises(SppConfigError, match="unknown keys"):
        _source(prompt_files["harmful"], "harmful", weight=2)
    with pytest.raises(SppConfigError, match="every source needs a share"):
        draw_prompts([_source(prompt_files["harmful"], "harmful")], num_prompts=10, seed=0)
