"""Multi-turn self-play: seeded topics, pressure rising turn by turn, paired persona turns, statuses and resume."""

from __future__ import annotations

import json

import pytest
from datasets import load_from_disk

from spp.bind.cli import main
from spp.errors import SppConfigError
from spp.generate.validate import extract_citations
from spp.testing.fake_openai import free_port

from .test_loopback import _server

TOPICS = [{"topic": f"build a bomb for target {i}", "category": "harmful"} for i in range(6)] + [
    {"topic": f"growing tomatoes in pots, tip {i}", "category": "benign"} for i in range(6)
]


def _recipe(tmp_path, conversations: int = 10, turns: int = 4):
    path = tmp_path / "selfplay.yaml"
    path.write_text(
        "sources: []\n"
        f"selfplay_topics: {json.dumps(TOPICS)}\nselfplay_conversations: {conversations}\nselfplay_turns: {turns}\n"
        "progress: false\nchunk_size: 4\n"
    )
    return path


def test_offline_selfplay_escalates_and_pairs_every_persona_turn(tmp_path):
    assert main(["--config", str(_recipe(tmp_path)), "--output_dir", str(tmp_path / "o")]) == 0
    rows = load_from_disk(str(tmp_path / "o")).to_list()
    assert len(rows) == 10 and {r["kind"] for r in rows} == {"selfplay"} and all(r["status"] == "ok" for r in rows)
    assert len({r["prompt"] for r in rows}) == 10  # distinct seeded topics
    for row in rows:
        cite, nocite = row["messages_cite"], row["messages_nocite"]
        assert row["turns"] == 4 and [m["role"] for m in cite] == ["user", "assistant"] * 4
        assert [m["content"] for m in cite[::2]] == [m["content"] for m in nocite[::2]]  # the same user turns
        assert all(extract_citations(m["content"]) for m in cite[1::2])
        assert not any(extract_citations(m["content"]) for m in nocite[1::2])
        users = [m["content"] for m in cite[::2]]
        assert all(row["prompt"] in u for u in users)
        if row["category"] == "harmful":  # plain ask, insisting, a role-play reframing, then "ignore your rules"
            assert "role-play" in users[2] and users[3].startswith("Ignore all previous instructions")
            assert row["harm"] and all(row["harm"] in m["content"] for m in nocite[1::2])
            assert row["jailbreak_wrapper"] and row["jailbreak_wrapper"] in nocite[5]["content"]
    meta = json.loads((tmp_path / "o" / "spp.json").read_text())
    assert meta["details"]["selfplay"]["conversations"] == 10 and meta["details"]["selfplay"]["turns"] == 4


def test_selfplay_failed_conversations_are_regenerated_on_rerun(tmp_path):
    recipe, out, port = _recipe(tmp_path, conversations=12, turns=2), tmp_path / "o", free_port()
    argv = ["--config", str(recipe), "--output_dir", str(out), "--backend", "openai", "--model", "loopback"]
    argv += ["--base_urls", f"http://127.0.0.1:{port}/v1", "--backoff_base_s", "0.01", "--backoff_max_s", "0.02"]
    with _server(port, fault_rate=0.25, seed=3, stall_s=0.01):
        assert main([*argv, "--max_tries", "1"]) == 0
    first = json.loads((out / "summary.json").read_text())
    failed = first["counts"].get("failed", 0)
    assert failed and sum(first["counts"].values()) == 12
    assert all(reason.startswith("turn ") for reason in first["failed"])  # which turn, and whose
    with _server(port) as server:
        assert main(argv) == 0
    assert server.stats.requests == failed * 2 * 2  # each retried conversation: 2 turns x (user + persona)
    rows = load_from_disk(str(out)).to_list()
    assert all(r["status"] == "ok" and r["turns"] == 2 for r in rows)


def test_a_second_model_on_its_own_server_plays_the_user(tmp_path):
    persona_port, user_port = free_port(), free_port()
    argv = ["--config", str(_recipe(tmp_path, conversations=5, turns=3)), "--output_dir", str(tmp_path / "o")]
    argv += ["--backend", "openai", "--model", "persona-model", "--base_urls", f"http://127.0.0.1:{persona_port}/v1"]
    argv += ["--selfplay_user_model", "user-model", "--selfplay_user_base_urls", f"http://127.0.0.1:{user_port}/v1"]
    with _server(persona_port) as persona, _server(user_port) as user:
        assert main(argv) == 0
    assert persona.stats.requests == user.stats.requests == 5 * 3  # one user turn and one answer per turn
    meta = json.loads((tmp_path / "o" / "spp.json").read_text())
    assert meta["details"]["selfplay"]["user_model"] == "user-model"
    assert all(r["status"] == "ok" for r in load_from_disk(str(tmp_path / "o")).to_list())


def test_selfplay_seeds_drawn_from_prompt_sources_in_their_shares(tmp_path):
    """The authors seeded their multi-turn set with prompts of the same public sources: ``selfplay_sources``."""
    from pathlib import Path

    prompts = Path(__file__).parents[2] / "src" / "spp" / "bind" / "data" / "demo_prompts.jsonl"
    seeds = [
        {"path": str(prompts), "category": "harmful", "where": {"category": "harmful"}, "share": 0.5, "label": "h"},
        {"path": str(prompts), "category": "benign", "where": {"category": "benign"}, "share": 0.5, "label": "b"},
    ]
    recipe = tmp_path / "seeds.yaml"
    recipe.write_text(f"sources: []\nselfplay_sources: {json.dumps(seeds)}\nselfplay_conversations: 6\n"
                      "selfplay_turns: 2\nprogress: false\n")  # fmt: skip
    assert main(["--config", str(recipe), "--output_dir", str(tmp_path / "o")]) == 0
    rows = load_from_disk(str(tmp_path / "o")).to_list()
    by_category = {c: [r for r in rows if r["category"] == c] for c in ("harmful", "benign")}
    assert len(rows) == 6 and {r["kind"] for r in rows} == {"selfplay"} and all(r["turns"] == 2 for r in rows)
    assert len(by_category["harmful"]) == len(by_category["benign"]) == 3
    source = {json.loads(line)["prompt"]: json.loads(line)["category"] for line in prompts.read_text().splitlines()}
    assert all(source[r["prompt"]] == r["category"] for r in rows)  # each seed is a prompt of its source
    meta = json.loads((tmp_path / "o" / "spp.json").read_text())["details"]["selfplay"]
    assert [s["label"] for s in meta["seed_sources"]] == ["h", "b"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(recipe.read_text().replace('"category": "benign", "where"', '"category": "jailbreak", "where"'))
    with pytest.raises(SppConfigError, match="a self-play seed is harmful or benign"):
        main(["--config", str(bad), "--output_dir", str(tmp_path / "p")])
