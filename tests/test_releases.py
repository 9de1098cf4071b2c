"""Release registries (``spp.releases``) and the stand-ins of the SPP release (``spp.testing.release``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from spp.errors import SppConfigError
from spp.releases import load_release, lookup

REPO = Path(__file__).parents[1]

REGISTRY = Path(__file__).parents[1] / "recipes" / "releases" / "dlab-spp.yaml"


def test_the_shipped_registry_lists_every_arm_and_says_it_is_unverified():
    release = load_release(str(REGISTRY))
    assert list(release.models) == ["vanilla", "filtered", "t0", "mt", "t0-mt"]
    assert (
        release.repo("t0") == "dlab-spp/t0-1.7b-instruct" and release.repo("mt", "3b", "base") == "dlab-spp/mt-3b-base"
    )
    assert release.verified.startswith("UNVERIFIED") and release.chat_template == "default"
    assert release.tokenizer["marker"] == "<assistant>" and release.tokenizer["marker_id"] == 49152
    assert release.reported["mean_asr"] == {"t0": 0.017} and release.reported["reduction_vs_baseline"] == {"t0": 0.63}


def test_lookup_finds_listed_repos_and_their_mirror_only():
    assert lookup("dlab-spp/t0-mt-1.7b-base", str(REGISTRY))[1:] == ("t0-mt", "1.7b", "base")
    assert lookup("model-raising/t0-1.7b-instruct", str(REGISTRY))[1:] == ("t0", "1.7b", "instruct")  # the mirror
    assert lookup("someone/t0-1.7b-instruct", str(REGISTRY)) is None  # a look-alike name elsewhere: no arm
    assert lookup("dlab-spp/t0-1.7b-instruct", "none") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"verified": ""}, "no `verified` line"),
        ({"colour": "blue"}, "unknown keys"),
        ({"models": {"t0": {"1.7b": {"instruct": "no-slash"}}}}, "models.t0.1.7b"),
    ],
)
def test_a_malformed_registry_names_the_file_and_field(tmp_path, change, message):
    data = {**yaml.safe_load(REGISTRY.read_text()), **change}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SppConfigError, match=message) as err:
        load_release(str(path))
    assert str(path) in str(err.value)


@pytest.mark.slow
def test_the_stand_ins_mimic_the_release(release):
    from transformers import AutoConfig, AutoTokenizer

    from spp.testing.release import ARMS, CHARTER_TOKENS, DEFAULT_TEMPLATE, EPE_TEMPLATE

    folder = release.instruct("t0") / "main"
    tokenizer = AutoTokenizer.from_pretrained(folder)
    base = tokenizer.convert_tokens_to_ids("<assistant>")
    assert len(CHARTER_TOKENS) == 35 and base == len(tokenizer) - 36  # <assistant> right after the base vocabulary
    assert tokenizer.convert_tokens_to_ids(list(CHARTER_TOKENS)) == list(range(base + 1, base + 36))
    assert tokenizer.chat_template == {"default": DEFAULT_TEMPLATE, "epe": EPE_TEMPLATE}
    rows = AutoConfig.from_pretrained(folder).vocab_size
    assert rows % 64 == 0 and rows > len(tokenizer)  # embeddings padded past the tokenizer (as 49,280 > 49,188)
    with pytest.raises(Exception, match="no system turn"):
        tokenizer.apply_chat_template(
            [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}], tokenize=False
        )
    for arm in ARMS:
        for export in (release.instruct(arm), release.base(arm)):
            index = json.loads((export / "spp_export.json").read_text())
            assert not list(export.rglob("spp.json"))  # released models carry no spp.json
            assert index["repo_id"].startswith("dlab-spp/") and lookup(index["repo_id"], str(REGISTRY))[1] == arm
    refs = sorted(json.loads((release.base("t0") / "spp_export.json").read_text())["refs"])
    assert refs == ["main", "step1000-tokens2B", "step2000-tokens4B", "step3000-tokens6B", "v1.0"]


def test_the_shipped_registries_are_the_recipes_and_a_name_resolves_without_a_checkout(tmp_path, monkeypatch):
    """recipes/releases/ is the package's registry folder (one file per registry, not a copy to keep in step), and a
    pip-installed spp (no recipes/ folder) finds `dlab-spp` in it."""
    import spp.releases as releases

    recipes = sorted(p.name for p in (REPO / "recipes" / "releases").glob("*.yaml"))
    assert recipes == sorted(p.name for p in releases.PACKAGED_DIR.glob("*.yaml"))
    for name in recipes:
        assert (REPO / "recipes" / "releases" / name).read_bytes() == (releases.PACKAGED_DIR / name).read_bytes()
        assert (REPO / "recipes" / "releases" / name).resolve() == (releases.PACKAGED_DIR / name).resolve()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(releases, "__file__", str(tmp_path / "site-packages" / "spp" / "releases.py"))
    monkeypatch.setattr(releases, "PACKAGED_DIR", REPO / "src" / "spp" / "release_registries")
    assert releases.release_path("dlab-spp") == releases.PACKAGED_DIR / "dlab-spp.yaml"
    assert [p.name for p in releases.registry_files()] == recipes
