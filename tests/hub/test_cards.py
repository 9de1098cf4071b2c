"""Cards render from tiny real artifacts, and their YAML is what the Hub expects."""

from __future__ import annotations

from pathlib import Path

import yaml
from datasets import load_from_disk

from spp.hub.cards import NOT_RECORDED, render_checkpoint_card, render_dataset_card, render_model_card, template_path
from spp.hub.dataset_files import dataset_statistics, load_local_dataset
from spp.metadata import SppMetadata, read_metadata

EVALS = [
    {"benchmark": "advbench", "metric": "asr", "value": 0.017, "dataset_id": "walledai/AdvBench"},
    {"benchmark": "jbb-pair", "metric": "asr", "value": 0.05, "dataset_id": "JailbreakBench/JBB-Behaviors"},
]


def front_matter(card) -> dict:
    text = str(card)
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_model_card_states_provenance_and_has_a_valid_model_index(tiny_model_dir):
    card = render_model_card(read_metadata(tiny_model_dir), EVALS, repo_id="org/spp-t0")
    data = front_matter(card)
    assert data["license"] == "apache-2.0"
    assert data["datasets"] == ["org/spp-corpus"]
    assert {"spp", "spp_t0"} <= set(data["tags"])
    results = data["model-index"][0]["results"]
    assert len(results) == 2
    for entry, expected in zip(results, EVALS, strict=True):
        assert entry["task"]["type"] == "text-generation"
        assert entry["dataset"] == {"name": expected["benchmark"], "type": expected["dataset_id"]}
        assert entry["metrics"][0]["type"] == "asr"
        assert entry["metrics"][0]["value"] == expected["value"]
    body = card.text
    for fact in ("spp_t0", "Aria", "<assistant>", "spp-values", "1.0", "c0ffee", "abc123", "stratified", "0.1"):
        assert fact in body
    assert "| advbench | asr | 0.017 | walledai/AdvBench |" in body


def test_model_card_without_records_says_not_recorded_and_has_no_model_index():
    card = render_model_card(SppMetadata(kind="model"))
    data = front_matter(card)
    assert "model-index" not in data
    assert f"| persona | {NOT_RECORDED} |" in card.text
    assert "No evaluation results recorded." in card.text


def test_rendering_is_deterministic(spp_meta):
    assert str(render_model_card(spp_meta, EVALS)) == str(render_model_card(spp_meta, EVALS))


def test_checkpoint_card_names_its_branch_and_step(spp_meta):
    card = render_checkpoint_card(spp_meta, 1000, "step-0001000", repo_id="org/spp-t0")
    data = front_matter(card)
    assert "checkpoint" in data["tags"]
    assert 'revision="step-0001000"' in card.text
    assert "| step | 1000 |" in card.text


def test_dataset_card_states_provenance_counts_harm_and_schema(tiny_dataset_dir):
    data = load_local_dataset(tiny_dataset_dir)
    meta = read_metadata(tiny_dataset_dir)
    meta.details.update(dataset_statistics(data))
    card = render_dataset_card(meta, load_from_disk(str(tiny_dataset_dir)).features, repo_id="org/spp-corpus")
    yaml_data = front_matter(card)
    assert yaml_data["source_datasets"] == ["HuggingFaceFW/fineweb-edu"]
    assert "spp" in yaml_data["tags"]
    body = card.text
    for fact in ("HuggingFaceFW/fineweb-edu", "v1.2.0", "stratified", "| selection seed | 7 |", "gen-8b", "p1234"):
        assert fact in body
    assert "| `ok` | 2 |" in body and "| `none` | 3 |" in body and "| `rejected` | 1 |" in body
    assert "| 0.0 | 3 |" in body and "| 4.0 | 1 |" in body
    assert "| `reflection_1p` | `string` |" in body and "| `harm_score` | `float64` |" in body


def test_dataset_card_without_records_renders():
    card = render_dataset_card(SppMetadata(kind="dataset"))
    assert f"| source dataset | {NOT_RECORDED} |" in card.text
    assert front_matter(card)["tags"][0] == "spp"


def test_templates_are_package_data_and_hub_cards_points_at_them():
    repo_root = Path(__file__).resolve().parents[2]
    for name in ("model_card", "checkpoint_card", "dataset_card"):
        shipped = template_path(name)
        assert shipped.is_file()
        assert (repo_root / "hub_cards" / f"{name}.md").resolve() == shipped.resolve()


def test_only_hub_ids_go_into_card_metadata(tmp_path):
    from spp.hub.cards import is_hub_id

    local = tmp_path / "runs" / "tiny"
    local.mkdir(parents=True)
    assert is_hub_id("HuggingFaceTB/SmolLM2-1.7B")
    assert not is_hub_id(str(local)) and not is_hub_id("./runs/tiny") and not is_hub_id("a/b/c")
