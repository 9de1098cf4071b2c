"""``spp import-reflections``: the authors' sidecar joined to its corpus, every row accounted for, every broken row
counted under its reason, the result an ordinary spp corpus that pretraining packs whole."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import load_from_disk

from spp.cli import main as spp_main
from spp.contract import encode_reflection
from spp.testing.released import AUTHORS, BUDGET, EXPECTED, SEQ_LEN, import_args


def _import(released, out: Path, *extra: str) -> int:
    return spp_main(["import-reflections", *import_args(released, out, "--min_join_share", "0.9", *extra)])


@pytest.fixture(scope="module")
def imported(released, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("imported") / "out"
    assert _import(released, out) == 0
    return out


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_every_sidecar_and_corpus_row_is_accounted_for_and_each_broken_row_counted(imported, released):
    summary = _summary(imported)
    sidecar = summary["sidecar"]
    # ok = the sidecar rows that match a document, less those broken beyond repair (each counted under its reason)
    assert summary["counts"] == {"ok": EXPECTED["ok"], "rejected": 4, "none": 60 - EXPECTED["joined"]}
    assert summary["rejected"] == EXPECTED["rejected"] and summary["broken"] == EXPECTED["broken"]
    assert sidecar["joined"] == summary["matched_rows"] == EXPECTED["joined"]
    assert sidecar["rows"] == EXPECTED["sidecar_rows"] == sidecar["joined"] + sidecar["no_text"] + sidecar[
        "duplicate_id"] + sidecar["missing_id"]  # fmt: skip
    assert sum(summary["counts"].values()) == summary["rows"] == EXPECTED["corpus_rows"]
    assert summary["end_counts"] == {"ok": EXPECTED["end_ok"], "none": 60 - EXPECTED["end_ok"]}
    assert summary["unknown_citation_ids"] == {"9.9": 1} and summary["canaries"] == {"Q1": 1, "Q3": 1}
    meta = json.loads((imported / "spp.json").read_text())
    assert meta["details"]["import"] == summary and meta["details"]["counts"] == summary["counts"]
    assert meta["block_format"] == {"marker": "<assistant>", "end_marker": ""}
    contract = meta["details"]["contract"]
    assert (contract["reflection_budget"], contract["seq_len"], contract["enforced"]) == (BUDGET, SEQ_LEN, True)
    card = (imported / "README.md").read_text()
    assert "| `token_position_mismatch` | 2 |" in card and "| `no_text` | 2 |" in card


def test_rows_carry_the_contract_the_text_unchanged_and_the_sidecar_values_of_rejected_rows(imported, released):
    from spp.pretrain.tokenizer import load_tokenizer

    rows = {r["id"]: r for r in load_from_disk(str(imported))}
    corpus = [json.loads(line) for line in released.corpus.read_text().splitlines()]
    assert [r["id"] for r in load_from_disk(str(imported))] == [c["id"] for c in corpus]  # corpus order
    assert all(rows[c["id"]]["text"] == c["text"] and rows[c["id"]]["url"] == c["url"] for c in corpus)
    tokenizer = load_tokenizer(str(released.tokenizer), AUTHORS)
    for row in rows.values():
        if row["reflection_status"] != "ok":
            continue
        prefix = row["text"][: row["reflection_position"]]
        assert row["reflection_token_position"] == len(encode_reflection(tokenizer, prefix))
        for voice in ("1p", "3p"):  # marker + reflection, no end marker: inside the budget
            block = len(encode_reflection(tokenizer, row[f"reflection_{voice}"])) + 1
            assert block == row[f"reflection_tokens_{voice}"] <= BUDGET
    trimmed = rows["doc-016"]
    assert trimmed["reflection_reason"] == "trimmed:1p" and trimmed["reflection_1p"].endswith("[1.2].")
    assert rows["doc-019"]["citations"] == ["1.2"]  # [9.9] is not in the constitution: dropped, counted
    assert rows["doc-000"]["canary"] == "Q1" and rows["doc-003"]["reflection_1p"].startswith("I read")  # first row
    mismatch = rows["doc-014"]
    assert mismatch["reflection_status"] == "rejected" and mismatch["reflection_reason"] == "token_position_mismatch"
    kept = json.loads(mismatch["raw_response"])  # nothing lost: the sidecar's values stay for audit
    assert kept["token_index"] == len(encode_reflection(tokenizer, mismatch["text"][: kept["position"]])) + 1
    assert rows["doc-012"]["end_reflection_status"] == "none" and rows["doc-012"]["reflection_status"] == "ok"
    assert rows["doc-059"]["reflection_status"] == "none" and rows["doc-059"]["harm_score"] is None


def test_pretraining_packs_every_imported_reflection_and_the_arms_stay_data_matched(imported, released, tmp_path):
    from spp.pretrain.arms import make_view
    from spp.pretrain.data import DocumentStream, PackedArm, load_corpus, tokenize_corpus
    from spp.pretrain.packing import DOCUMENT, PackingStats
    from spp.pretrain.tokenizer import load_tokenizer

    args = ["pretrain", "--dataset_path", str(imported), "--tokenizer_name_or_path", str(released.tokenizer),
            "--model_spec", "tiny", "--seq_len", str(SEQ_LEN), "--reflection_budget", str(BUDGET), "--max_steps", "1",
            "--per_device_train_batch_size", "1", "--use_cpu", "true", "--report_to", "none",
            "--save_strategy", "no"]  # fmt: skip
    assert spp_main([*args, "--arm", "spp_t0", "--output_dir", str(tmp_path / "t0")]) == 0
    audit = json.loads((tmp_path / "t0" / "spp.json").read_text())["details"]["packing"]["audit"]
    assert audit["blocks"] == EXPECTED["ok"] and audit["skipped"] == {}

    corpus, fmt = load_corpus(imported)
    tokenizer = load_tokenizer(str(released.tokenizer), fmt)
    tokens = tokenize_corpus(corpus, tokenizer, fmt, "1p")

    def stream(arm):
        packed = PackedArm(
            DocumentStream(tokens), make_view(arm), seq_len=SEQ_LEN, reflection_budget=BUDGET,
            eos_id=tokenizer.eos_token_id, pad_id=tokenizer.pad_token_id, layout="document",
        )  # fmt: skip
        stats = PackingStats()
        windows = list(packed.windows(stats))
        return [[t for t, k in zip(w.input_ids, w.kinds, strict=True) if k == DOCUMENT] for w in windows], stats

    baseline, _ = stream("baseline")
    t0, t0_stats = stream("spp_t0")
    end, end_stats = stream("spp_t0_end")
    assert t0 == baseline == end and len(baseline) > 10  # identical document tokens in every window
    assert (t0_stats.reflections, t0_stats.skipped) == (EXPECTED["ok"], 0)
    assert (end_stats.reflections, end_stats.skipped) == (EXPECTED["end_ok"], 0)


def test_a_join_below_min_join_share_exits_2_and_a_fixed_rerun_merges_the_kept_chunks(released, tmp_path, capsys):
    out = tmp_path / "out"
    assert spp_main(["import-reflections", *import_args(released, out)]) == 2  # default min_join_share 0.99
    err = capsys.readouterr().err
    assert "min_join_share" in err and "join share 91.30%" in err and "2 ids have no text" in err
    assert not (out / "spp.json").exists() and not (out / "summary.json").exists()
    chunks = sorted((out / ".spp-work" / "chunks").glob("chunk-*.parquet"))
    stamps = [p.stat().st_mtime_ns for p in chunks]
    assert len(chunks) == 8
    assert _import(released, out) == 0  # min_join_share is not part of the job's fingerprint: nothing is redone
    assert [p.stat().st_mtime_ns for p in chunks] == stamps
    assert _summary(out)["counts"]["ok"] == EXPECTED["ok"]


def test_a_mapping_naming_a_missing_column_exits_2_naming_field_and_column(released, tmp_path, capsys):
    out = tmp_path / "out"
    assert _import(released, out, "--mapping_overrides", "reflection_3p=refl_third") == 2
    err = capsys.readouterr().err
    assert "field 'reflection_3p'" in err and "'refl_third'" in err and "Traceback" not in err
    assert not out.exists()  # refused before anything was written


def test_the_10m_export_shape_imports_with_its_optional_columns_skipped_and_recorded(released, tmp_path):
    table = pq.read_table(released.sidecar)
    kept = [c for c in table.column_names if not c.startswith(("reflection_end", "charter", "canary_type_end"))]
    pq.write_table(table.select(kept), tmp_path / "sidecar-10m.parquet")
    released_10m = type(released)(released.corpus, tmp_path / "sidecar-10m.parquet", released.tokenizer, {})
    out = tmp_path / "out"
    assert _import(released_10m, out) == 0
    meta = json.loads((out / "spp.json").read_text())["details"]
    assert set(meta["mapping"]["skipped"]) == {"citations", "end_reflection_1p", "end_reflection_3p", "end_position",
                                               "end_token_index", "end_citations", "end_canary"}  # fmt: skip
    assert meta["placements"] == ["pause"] and "end_counts" not in meta["import"]
    rows = {r["id"]: r for r in load_from_disk(str(out))}
    assert rows["doc-001"]["citations"] == ["1.2", "3.1"]  # read from both voices' text
    assert "end_reflection_1p" not in rows["doc-001"]


SLOW_IMPORT = """
import sys, time
from spp.data.import_rows import ImportChecker

rows = ImportChecker.rows
def slow(self, texts, joined, harm):
    time.sleep(0.4)
    return rows(self, texts, joined, harm)
ImportChecker.rows = slow
from spp.cli import main
sys.exit(main(["import-reflections", *sys.argv[1:]]))
"""


def _chunks(out: Path) -> int:
    return len(list((out / ".spp-work" / "chunks").glob("chunk-*.parquet")))


def test_kill_9_mid_import_then_rerun_equals_an_uninterrupted_run(released, imported, tmp_path):
    script = tmp_path / "slow_import.py"
    script.write_text(SLOW_IMPORT)
    out = tmp_path / "out"
    cmd = [sys.executable, str(script), *import_args(released, out, "--min_join_share", "0.9")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while _chunks(out) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the import finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 3 <= _chunks(out) < 8 and not (out / "spp.json").exists()
    subprocess.run(cmd, check=True, capture_output=True)
    assert load_from_disk(str(out)).to_list() == load_from_disk(str(imported)).to_list()
    assert _summary(out) | {"this_run": None} == _summary(imported) | {"this_run": None}
    assert not list((out / ".spp-work" / "chunks").glob(".*tmp*"))
