"""Bad input gives a clear error or a counted, visible outcome; every input format reads the same rows."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset, load_from_disk

from spp.data.augment_cli import main
from spp.data.sources import SourceConfig, load_source, text_id
from spp.errors import SppConfigError
from spp.persona import PromptRenderer, load_constitution, load_persona

ROWS = [
    {"id": "a", "text": "A story about a garden and the people who tend it, written over many seasons."},
    {"id": "b", "text": "   \n\t "},
    {"id": "c", "text": ""},
    {"id": "d", "text": "Instructions to build a weapon and poison a river; the violence of the attack."},
]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _run(tmp_path, dataset, *extra):
    out = tmp_path / "out"
    args = ["--dataset", str(dataset), "--output_dir", str(out), "--progress", "false", *extra]
    assert main(args) == 0
    return load_from_disk(str(out)), json.loads((out / "spp.json").read_text())


def test_missing_text_column_lists_the_columns_found(tmp_path):
    path = _jsonl(tmp_path / "c.jsonl", [{"id": "x", "body": "hello"}])
    with pytest.raises(SppConfigError) as err:
        load_source(SourceConfig(dataset=str(path)))
    assert "no column 'text'" in str(err.value) and "['id', 'body']" in str(err.value)


def test_malformed_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine"}\n{"text": "also fine"}\n{"text": "broken\n')
    with pytest.raises(SppConfigError) as err:
        load_source(SourceConfig(dataset=str(path)))
    assert f"{path}:3" in str(err.value)


def test_malformed_csv_names_the_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('id,text\n1,"hello"\n2,"a","b","c"\n')
    with pytest.raises(SppConfigError) as err:
        load_source(SourceConfig(dataset=str(path)))
    assert str(path) in str(err.value)


def test_non_string_text_column_is_an_error(tmp_path):
    path = _jsonl(tmp_path / "n.jsonl", [{"id": "x", "text": 3}, {"id": "y", "text": 4}])
    with pytest.raises(SppConfigError, match="holds int64, not text"):
        load_source(SourceConfig(dataset=str(path)))


def test_empty_and_whitespace_documents_are_kept_never_selected_and_counted(tmp_path):
    data, meta = _run(tmp_path, _jsonl(tmp_path / "c.jsonl", ROWS), "--selection", "all")
    assert data["text"] == [r["text"] for r in ROWS]  # unchanged, whitespace included
    assert data["reflection_status"] == ["ok", "none", "none", "ok"]
    assert data["reflection_reason"][1:3] == ["empty_document", "empty_document"]
    assert meta["details"]["empty_documents"] == 2 and meta["details"]["selected"] == 2


def test_duplicate_source_ids_are_an_error_naming_the_id_or_kept_when_asked(tmp_path):
    rows = [*ROWS, {"id": "a", "text": "Another text with the same id."}]
    path = _jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(SppConfigError, match="id 'a' occurs twice \\(rows 0 and 4\\)"):
        main(["--dataset", str(path), "--output_dir", str(tmp_path / "x"), "--progress", "false"])
    data, meta = _run(tmp_path, path, "--duplicate_ids", "keep")
    assert len(data) == 5 and meta["details"]["duplicate_ids"] == 1


def test_ids_are_text_hashes_when_the_source_has_none(tmp_path):
    path = _jsonl(tmp_path / "h.jsonl", [{"text": r["text"]} for r in ROWS])
    data, _ = _run(tmp_path, path)
    assert data["id"] == [text_id(r["text"]) for r in ROWS]


def test_long_document_prompt_is_truncated_at_the_pause_and_text_is_untouched(tmp_path):
    long_text = " ".join(f"word{i}" for i in range(20_000))
    data, _ = _run(tmp_path, _jsonl(tmp_path / "l.jsonl", [{"id": "long", "text": long_text}]), "--selection", "all")
    assert data[0]["text"] == long_text and data[0]["reflection_status"] == "ok"
    renderer = PromptRenderer(load_constitution(), load_persona(), max_document_chars=12_000)
    prompt = renderer.messages(long_text, data[0]["reflection_position"])[1]["content"]
    assert len(prompt) < 12_500 < data[0]["reflection_position"]


def test_parquet_csv_save_to_disk_and_streaming_give_the_same_rows(tmp_path):
    rows = [r for r in ROWS if r["text"].strip()] * 1
    rows = [{"id": f"{r['id']}{i}", "text": r["text"]} for i in range(10) for r in rows]
    jsonl = _jsonl(tmp_path / "s.jsonl", rows)
    Dataset.from_list(rows).to_parquet(str(tmp_path / "s.parquet"))
    Dataset.from_list(rows).to_csv(str(tmp_path / "s.csv"), index=False)
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "disk"))
    outputs = []
    for i, (source, streaming) in enumerate(
        [
            (jsonl, "false"),
            (tmp_path / "s.parquet", "false"),
            (tmp_path / "s.csv", "false"),
            (tmp_path / "disk", "false"),
            (jsonl, "true"),
        ]
    ):
        out = tmp_path / f"out{i}"
        args = ["--dataset", str(source), "--output_dir", str(out), "--streaming", streaming, "--progress", "false"]
        assert main([*args, "--selection_fraction", "0.5", "--chunk_size", "7"]) == 0
        outputs.append(load_from_disk(str(out)).to_list())
    assert all(o == outputs[0] for o in outputs[1:])
    assert [r["id"] for r in outputs[0]] == [r["id"] for r in rows]
    assert 0 < sum(r["reflection_status"] == "ok" for r in outputs[0]) < len(rows)
