"""SFT data: citation stripping, proportions, stages, local-file identity, and errors a user sees."""

from __future__ import annotations

import pytest

from spp.errors import SppConfigError
from spp.persona import load_constitution
from spp.sft.config import SFTDataset, SPPSFTConfig
from spp.sft.data import dataset_identity, mix, stage_datasets, strip_citations

SECTIONS = frozenset(load_constitution().sections)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Gladly [1.2]. Start now.", "Gladly. Start now."),
        ("No [2.3, 2.4]. Ask them.", "No. Ask them."),
        ("No [1.2][1.4] and [ 3.1 ; 4.2 ].", "No and."),
        ("[3.1] Call them.\n[2.2] Or wait.", "Call them.\nOr wait."),
        ("I refuse.[1.1] Ask a doctor.", "I refuse. Ask a doctor."),
        ("Keep [citation needed], lists [1] and 3.1 as is.", "Keep [citation needed], lists [1] and 3.1 as is."),
    ],
)
def test_strip_removes_known_citations_in_prose(text, expected):
    assert strip_citations(text, SECTIONS) == expected


@pytest.mark.parametrize(
    "text",
    [
        "x = np.array([1.0, 2.0, 3.0])",
        "Use np.array([1.1, 2.2]) here.",
        "weights = [1.1, 2.3]",
        "d[1.2] = 3",
        "f(x)[1.3] and (a, [2.1])",
        "Version [9.9] and [1.1, 9.9] cite no known sections together.",
        "`[1.1]` in code",
        "```python\nprint([1.1])\nrows = [ 2.3 ]\n[3.1]\n```",
        "[0.5] is a probability, [10.1] is not a section",
    ],
)
def test_strip_leaves_code_maths_and_unknown_ids_unchanged(text):
    assert strip_citations(text, SECTIONS) == text


def _config(tmp_path, datasets, **kwargs) -> SPPSFTConfig:
    return SPPSFTConfig(output_dir=str(tmp_path / "out"), datasets=datasets, bf16=False, use_cpu=True, **kwargs)


def test_mixture_proportions_are_exact_and_never_repeat_rows(tmp_path):
    from datasets import Dataset

    big = Dataset.from_dict({"messages": [[{"role": "user", "content": f"a{i}"}] for i in range(100)]})
    small = Dataset.from_dict({"messages": [[{"role": "user", "content": f"b{i}"}] for i in range(10)]})
    mixed = mix([big, small], [0.75, 0.25], seed=0)
    contents = [m[0]["content"] for m in mixed["messages"]]
    assert len(contents) == 40 and len(set(contents)) == 40
    assert sum(c.startswith("a") for c in contents) == 30
    assert [m[0]["content"] for m in mix([big, small], [3, 1], seed=0)["messages"]] == contents


def test_strip_fallback_stage_removes_citations_from_assistant_turns_only(tmp_path, conversations, write_chat):
    cited = [[{"role": "user", "content": "Why [1.1]?"}, {"role": "assistant", "content": "Because [1.1]."}]]
    code = [[{"role": "user", "content": "Code?"}, {"role": "assistant", "content": "np.array([1.0, 2.0, 3.0])"}]]
    path = write_chat(tmp_path / "c.jsonl", cited + code + conversations)
    config = _config(tmp_path, [{"path": str(path), "persona": True}], citation_stage="strip")
    assert config.citation_stage == "uncited"
    stages = stage_datasets(config, SECTIONS)
    assert len(stages) == 2 and len(stages[1]) == 5
    assert stages[0][0]["messages"][1]["content"] == "Because [1.1]."
    assert stages[1][0]["messages"] == [
        {"role": "user", "content": "Why [1.1]?"},
        {"role": "assistant", "content": "Because."},
    ]
    assert stages[1][1]["messages"][1]["content"] == "np.array([1.0, 2.0, 3.0])"


def _paired(n: int, prefix: str, status_every: int = 0) -> list[dict]:
    rows = []
    for i in range(n):
        ok = not status_every or i % status_every
        user = {"role": "user", "content": f"{prefix} question {i}"}
        rows.append(
            {
                "id": f"{prefix}{i}",
                "status": "ok" if ok else "failed",
                "messages_cite": [user, {"role": "assistant", "content": f"{prefix} cited {i} [1.1]"}] if ok else None,
                "messages_nocite": [user, {"role": "assistant", "content": f"{prefix} plain {i}"}] if ok else None,
            }
        )
    return rows


def test_paired_persona_data_stage_1_cited_stage_2_uncited_general_mix_once(tmp_path, write_chat):
    import json

    persona = tmp_path / "persona.jsonl"
    persona.write_text("".join(json.dumps(r) + "\n" for r in _paired(12, "p", status_every=4)))
    general = write_chat(
        tmp_path / "general.jsonl",
        [
            [{"role": "user", "content": f"g{i}"}, {"role": "assistant", "content": f"general {i} [1.1]"}]
            for i in range(27)
        ],
    )
    datasets = [{"path": str(general), "proportion": 0.75}, {"path": str(persona), "proportion": 0.25}]
    stages = stage_datasets(_config(tmp_path, datasets, citation_stage="uncited"))
    first = [m[1]["content"] for m in stages[0]["messages"]]
    second = [m[1]["content"] for m in stages[1]["messages"]]
    # 9 ok persona rows (3 failed rows left out), mixed 1:3 with the general data: 27 + 9 rows, no row twice
    assert len(first) == 36 and len(set(first)) == 36
    assert sum(c.startswith("general") for c in first) == 27
    cited = [c for c in first if c.startswith("p cited")]
    assert len(cited) == 9 and len(second) == 9
    # stage 2: the same persona rows, in the same order, in the generator's uncited rendering; no general row
    assert second == [c.replace("cited", "plain").replace(" [1.1]", "") for c in cited]
    assert not any(c.startswith("general") for c in second)


def test_uncited_stage_needs_persona_data(tmp_path, conversations, write_chat):
    path = write_chat(tmp_path / "c.jsonl", conversations)
    with pytest.raises(SppConfigError, match="no persona-binding dataset"):
        stage_datasets(_config(tmp_path, [{"path": str(path)}], citation_stage="uncited"), SECTIONS)


def test_datasets_stage_uses_the_stage_2_datasets(tmp_path, conversations, write_chat):
    one = write_chat(tmp_path / "one.jsonl", conversations)
    two = write_chat(tmp_path / "two.jsonl", conversations[2:])
    datasets = [{"path": str(one)}, {"path": str(two), "stage": 2}]
    stages = stage_datasets(_config(tmp_path, datasets, citation_stage="datasets"))
    assert [len(s) for s in stages] == [3, 1]
    with pytest.raises(SppConfigError, match="only used with citation_stage: datasets"):
        stage_datasets(_config(tmp_path, datasets))


def test_data_without_messages_is_a_clear_error(tmp_path):
    path = tmp_path / "text.jsonl"
    path.write_text('{"text": "hello"}\n')
    with pytest.raises(SppConfigError, match="no 'messages' column"):
        stage_datasets(_config(tmp_path, [{"path": str(path)}]))


def test_non_utf8_sft_data_is_a_clear_error_naming_the_file(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"messages": [{"role": "user", "content": "caf\xe9"}]}\n')
    with pytest.raises(SppConfigError, match="latin.jsonl: unreadable data .*UTF-8"):
        stage_datasets(_config(tmp_path, [{"path": str(path)}]))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"messages": [{"role": "robot", "content": "hi"}]}', "role 'robot'"),
        ('{"messages": []}', "empty conversation"),
        ('{"messages": [{"role": "user"}]}', "no text content"),
        ('{"messages": [{"role": "user", "content": "hi"}]', "malformed|could not|unreadable|JSON"),
    ],
)
def test_bad_conversations_are_clear_errors_naming_the_file(tmp_path, line, problem):
    path = tmp_path / "chat.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "fine"}]}\n' + line + "\n")
    with pytest.raises(SppConfigError, match=problem) as info:
        stage_datasets(_config(tmp_path, [{"path": str(path)}]))
    assert "chat.jsonl" in str(info.value)


def test_bad_dataset_entries_and_options_are_config_errors(tmp_path):
    with pytest.raises(SppConfigError, match="unknown keys \\['weight'\\]"):
        _config(tmp_path, [{"path": "x", "weight": 2}])
    with pytest.raises(SppConfigError, match="cuts conversations mid-turn"):
        _config(tmp_path, [], packing=True, packing_strategy="wrapped")
    with pytest.raises(SppConfigError, match="pass --hub_model_id"):
        _config(tmp_path, [], push_to_hub=True, hub_model_id="org/x")


def test_local_files_are_identified_by_content_not_path(tmp_path, conversations, write_chat):
    a = write_chat(tmp_path / "a.jsonl", conversations)
    b = write_chat(tmp_path / "copy.jsonl", conversations)
    c = write_chat(tmp_path / "c.jsonl", conversations[:2])
    ident = [dataset_identity(SFTDataset(path=str(p))) for p in (a, b, c)]
    assert ident[0] == ident[1] != ident[2]
    hub = dataset_identity(SFTDataset(path="allenai/tulu-3-sft-mixture", revision="abc", proportion=0.9))
    assert hub["path"] == "allenai/tulu-3-sft-mixture" and hub["revision"] == "abc" and hub["proportion"] == 0.9


def test_strip_fallback_uses_the_constitution_the_base_model_records(tmp_path):
    from spp.bind.provenance import constitution_record
    from spp.metadata import SppMetadata
    from spp.sft.train import constitution_section_ids

    config = _config(tmp_path, [])
    same = SppMetadata(kind="model", constitution=constitution_record(load_constitution()))
    assert constitution_section_ids(config, same) == SECTIONS
    other = SppMetadata(kind="model", constitution={"name": "mine", "version": "2", "hash": "0" * 64})
    with pytest.raises(SppConfigError, match="not the one the base model's spp.json records"):
        constitution_section_ids(config, other)
