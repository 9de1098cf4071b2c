"""A changed corpus, a swapped or truncated chunk, a killed merge: named and refused, nothing lost or duplicated."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from datasets import load_from_disk

from spp.cli import main as spp_main
from spp.data.augment_cli import main
from spp.errors import SppConfigError

N, CHUNK = 120, 20


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _rows(n: int, prefix: str = "doc", start: int = 0) -> list[dict]:
    return [{"id": f"{prefix}-{i:05d}", "text": f"Note {prefix} {i}: the harbour, the market and the weather."}
            for i in range(start, start + n)]  # fmt: skip


def _args(corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["--dataset", str(corpus), "--output_dir", str(out), "--chunk_size", str(CHUNK), "--progress", "false",
            "--selection_fraction", "0.5", *extra]  # fmt: skip


def _chunks(out: Path) -> list[Path]:
    return sorted((out / ".spp-work" / "chunks").glob("chunk-*.parquet"))


def _half_finished(out: Path, keep: int) -> None:
    """What a kill leaves: the first ``keep`` chunks committed, no merged dataset, no finished shard."""
    for chunk in _chunks(out)[keep:]:
        chunk.unlink()
    for manifest in (out / ".spp-work" / "shards").glob("*.json"):
        manifest.unlink()


@pytest.fixture
def finished(tmp_path):
    corpus = _write(tmp_path / "c.jsonl", _rows(N))
    out = tmp_path / "out"
    assert main(_args(corpus, out)) == 0
    return corpus, out, load_from_disk(str(out)).to_list()


def test_appending_to_a_finished_jobs_corpus_is_refused_naming_the_change(finished, capsys):
    corpus, out, before = finished
    _write(corpus, _rows(N) + _rows(40, start=N))
    assert spp_main(["augment", *_args(corpus, out)]) == 2
    err = capsys.readouterr().err
    assert f"it has {N + 40} rows, the job was started on {N} (40 rows were added)" in err
    assert load_from_disk(str(out)).to_list() == before  # nothing lost, nothing duplicated


@pytest.mark.parametrize("streaming", ["false", "true"])
def test_prepending_to_a_half_finished_jobs_corpus_is_refused(finished, streaming):
    corpus, out, _ = finished
    _half_finished(out, keep=2)
    _write(corpus, _rows(25, prefix="new") + _rows(N))
    with pytest.raises(SppConfigError) as err:
        main(_args(corpus, out, "--streaming", streaming))
    if streaming == "true":  # a stream's length is not known up front: the first committed chunk no longer matches
        assert "since chunk 0 (rows 0-19) was generated: row 0 now has id 'new-00000'" in str(err.value)
    else:
        assert "25 rows were added" in str(err.value)
    assert len(_chunks(out)) == 2


@pytest.mark.parametrize("streaming", ["false", "true"])
def test_editing_a_row_is_refused_naming_the_id_and_redo_regenerates_only_its_chunk(finished, tmp_path, streaming):
    corpus, out, before = finished
    rows = _rows(N)
    rows[45]["text"] = "An edited note about something else entirely, written later."
    _write(corpus, rows)
    with pytest.raises(SppConfigError, match=r"since chunk 2 \(rows 40-59\).*the text of id 'doc-00045' \(row 45\)"):
        main(_args(corpus, out, "--streaming", streaming))
    untouched = {p.name: p.stat().st_mtime_ns for p in _chunks(out)}
    assert main(_args(corpus, out, "--streaming", streaming, "--on_corpus_change", "redo")) == 0
    changed = {p.name for p in _chunks(out) if p.stat().st_mtime_ns != untouched[p.name]}
    assert changed == {"chunk-00000002.parquet"}
    fresh = tmp_path / "fresh"
    assert main(_args(corpus, fresh)) == 0
    assert load_from_disk(str(out)).to_list() == load_from_disk(str(fresh)).to_list() != before


def test_a_chunk_copied_over_another_is_named_by_the_merge_and_the_rerun(finished):
    corpus, out, _ = finished
    chunks = _chunks(out)
    shutil.copy(chunks[0], chunks[1])
    args = _args(corpus, out)
    with pytest.raises(SppConfigError, match=r"chunk 1 \(chunk-00000001.parquet\) holds rows from row 0.*copied"):
        main([*args, "--merge", "true"])
    with pytest.raises(SppConfigError, match=r"chunk 1 .* holds rows from row 0 .*delete .*chunk-00000001.parquet"):
        main(args)


def test_a_truncated_chunk_is_named_with_the_fix_and_deleting_it_recovers(finished):
    corpus, out, before = finished
    chunk = _chunks(out)[3]
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    with pytest.raises(SppConfigError, match=r"chunk 3 \(chunk-00000003.parquet\) is unreadable.*delete"):
        main([*_args(corpus, out), "--merge", "true"])
    chunk.unlink()
    assert main(_args(corpus, out)) == 0
    assert load_from_disk(str(out)).to_list() == before


def test_a_killed_merges_leftovers_are_cleaned_by_the_next_run(finished):
    corpus, out, before = finished
    leftover = out / ".spp-work" / "merge-killed"
    (leftover / "dataset").mkdir(parents=True)
    (leftover / "dataset" / "data-00000-of-00001.arrow").write_bytes(b"partial")
    (out / ".summary.json.tmp-12345").write_text("{")
    assert main([*_args(corpus, out), "--merge", "true"]) == 0
    assert not leftover.exists() and not (out / ".summary.json.tmp-12345").exists()
    assert load_from_disk(str(out)).to_list() == before


def test_card_source_datasets_holds_no_local_path(finished):
    _, out, _ = finished
    card = (out / "README.md").read_text()
    header = card.split("---")[1]
    assert "source_datasets" not in header and str(out.parent) not in header
