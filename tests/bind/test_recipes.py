"""The shipped bind-data recipes parse, and the authors' recipe names their four sources with categories and shares."""

from __future__ import annotations

from pathlib import Path

from spp.bind.cli import main, parse

ROOT = Path(__file__).resolve().parents[2]


def test_authors_recipe_names_the_four_sources_with_categories_and_shares(monkeypatch):
    monkeypatch.chdir(ROOT)
    configs = parse(["--config", "recipes/bind/authors.yaml"])
    sources = configs.job.source_specs
    assert {s.path for s in sources} == {
        "allenai/WildChat-1M",
        "allenai/wildguardmix",
        "allenai/wildjailbreak",
        "declare-lab/HarmfulQA",
    }
    assert {s.category for s in sources} == {"harmful", "benign", "jailbreak"}
    assert all(s.share for s in sources) and abs(sum(s.share for s in sources) - 1) < 1e-9
    assert configs.job.num_prompts == 300_000 and configs.generator.backend == "openai"
    # multi-turn self-play seeded from the same sources, in the authors' published proportions (~100k)
    seeds = configs.job.selfplay_source_specs
    assert configs.job.selfplay_conversations == 100_000 and {s.category for s in seeds} == {"harmful", "benign"}
    assert abs(sum(s.share for s in seeds) - 1) < 1e-9 and sum(s.share for s in seeds if s.category == "harmful") == 0.4


def test_demo_recipe_runs(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    assert (
        main(["--config", "recipes/bind/demo.yaml", "--output_dir", str(tmp_path / "o"), "--progress", "false"]) == 0
    )
    assert (tmp_path / "o" / "spp.json").is_file()
