"""``init_continue_stream``: spp_mt as a baseline checkpoint plus its midtraining phase, on the baseline's own window
stream (a tiny baseline run of 3 steps x 4 windows; the continuation starts at its window 12)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from spp.cli import main as spp_main
from spp.metadata import read_metadata
from spp.pretrain.documents import DOCUMENT

pytestmark = pytest.mark.slow  # trains a tiny baseline and continues it

REPO = Path(__file__).resolve().parents[2]
STEP, G, SEQ = 3, 4, 128


def _argv(corpus_dir, out, *extra) -> list[str]:
    return ["--config", str(REPO / "recipes/pretrain/tiny.yaml"), "--dataset_path", str(corpus_dir),
            "--tokenizer_name_or_path", str(corpus_dir / "tokenizer"), "--output_dir", str(out),
            "--global_batch_windows", str(G), "--per_device_train_batch_size", "2", "--save_steps", str(STEP),
            "--checkpoint_export_dir", f"{out}-export", "--disable_tqdm", "true", "--use_cpu", "true", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def baseline(corpus_dir, tmp_path_factory):
    """A baseline run of 3 steps (its checkpoint-3 is what the continuation starts from)."""
    out = tmp_path_factory.mktemp("baseline") / "run"
    assert spp_main(["pretrain", *_argv(corpus_dir, out, "--arm", "baseline", "--max_steps", str(STEP))]) == 0
    return out


def _continuation(corpus_dir, baseline, out, *extra) -> list[str]:
    return _argv(corpus_dir, out, "--arm", "spp_mt", "--max_steps", "2", "--init_from",
                 str(baseline / f"checkpoint-{STEP}"), "--init_step", str(STEP), "--init_continue_stream", "true",
                 *extra)  # fmt: skip


def _run(argv):
    from spp.pretrain.builder import build_run
    from spp.pretrain.run import CONFIG_TYPES
    from spp.recipes import parse_config

    return build_run(*parse_config(CONFIG_TYPES, argv, prog="spp pretrain"))


def _documents(window) -> list[int]:
    return [t for t, k in zip(window.input_ids, window.kinds, strict=True) if k == DOCUMENT]


def test_the_continuation_reads_the_baseline_stream_from_its_checkpoint(corpus_dir, baseline, tmp_path):
    ahead = list(_run(_argv(corpus_dir, tmp_path / "b", "--arm", "baseline")).train_dataset.resume_at(STEP * G).windows())
    same_arm = _run(_continuation(corpus_dir, baseline, tmp_path / "c", "--arm", "baseline"))
    got = list(same_arm.train_dataset.windows())
    assert got and got[0].index == STEP * G
    assert [w.input_ids for w in got] == [w.input_ids for w in ahead]  # the baseline's next windows, token for token
    mt = _run(_continuation(corpus_dir, baseline, tmp_path / "m"))
    windows = list(mt.train_dataset.windows())
    assert [w.index for w in windows] == [w.index for w in ahead]
    assert [_documents(w) for w in windows] == [_documents(w) for w in ahead]  # the same documents, reflections added
    assert any(w.reflections for w in windows[:G])  # midtraining from the first window: spp_mt's reflections go in
    assert mt.view.schedule.midtraining_start_tokens == STEP * G * SEQ


def test_spp_pretrain_continues_the_stream_and_records_it(corpus_dir, baseline, tmp_path):
    out = tmp_path / "mt"
    assert spp_main(["pretrain", *_continuation(corpus_dir, baseline, out)]) == 0
    meta = read_metadata(out)
    assert meta.arm == "spp_mt" and meta.details["data_view"]["stream_start_window"] == STEP * G
    parent = read_metadata(baseline)
    assert meta.lineage["continued_stream"] == {
        "from_step": STEP, "from_window": STEP * G, "parent_arm": "baseline",
        "parent_data_view_hash": parent.details["data_view_hash"], "midtraining_start_tokens": STEP * G * SEQ,
    }  # fmt: skip
    assert meta.lineage["init_from"]["step"] == STEP
    trained = meta.details["packing"]["trained_windows"]
    assert trained["reflections_packed"] > 0  # its 2 steps are midtraining: reflections were trained on
    history = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())["log_history"]
    logged = [h for h in history if "loss" in h]
    assert logged and all(h["midtraining"] == 1.0 for h in logged)  # logged at the stream position, not from 0


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--seq_len", "96"], ["field 'seq_len'", "seq_len: 128 in init_from, 96 here"]),
        (["--data_seed", "7"], ["data_seed: 0 in init_from, 7 here"]),
        (["--global_batch_windows", "8"], ["windows_per_step: 4 in init_from, 8 here"]),
        (["--arm", "filtered"], ["field 'arm'", "rows dropped: 'none (arm baseline)' in init_from, 'harm_score >= 3 (arm filtered)' here"]),
        (["--init_step", "2"], ["field 'init_step'", "step 3 of a run", "set init_step to 3"]),
        (["--init_step", "0"], ["field 'init_step'", "init_step is 0"]),
    ],
)
def test_a_stream_that_cannot_be_continued_exits_2_naming_the_field(corpus_dir, baseline, tmp_path, capsys, extra, says):
    out = tmp_path / "mt"
    assert spp_main(["pretrain", *_continuation(corpus_dir, baseline, out, *extra)]) == 2
    err = capsys.readouterr().err
    assert all(s in err for s in says), err
    assert "Traceback" not in err and not out.exists()


def test_an_external_checkpoint_has_no_stream_to_continue(corpus_dir, baseline, tmp_path, capsys):
    external = tmp_path / "external"
    shutil.copytree(baseline / f"checkpoint-{STEP}", external)
    (external / "spp.json").unlink()
    (external / "trainer_state.json").unlink()
    argv = _continuation(corpus_dir, baseline, tmp_path / "mt", "--init_from", str(external))
    assert spp_main(["pretrain", *argv]) == 2
    err = capsys.readouterr().err
    assert "field 'init_continue_stream'" in err and "no spp.json (an external model)" in err


def test_an_exported_step_ref_continues_like_its_checkpoint_folder(corpus_dir, baseline, tmp_path, capsys):
    folder = _run(_continuation(corpus_dir, baseline, tmp_path / "f"))
    export = ["--init_from", f"{baseline}-export", "--init_revision", f"step-{STEP:07d}"]
    ref = _run(_continuation(corpus_dir, baseline, tmp_path / "r", *export))
    first = lambda run: next(iter(run.train_dataset.windows()))  # noqa: E731
    assert first(ref).index == STEP * G and first(ref).input_ids == first(folder).input_ids
    # the ref records its step: an init_step that is not it is refused
    argv = _continuation(corpus_dir, baseline, tmp_path / "x", *export, "--init_step", "1")
    assert spp_main(["pretrain", *argv]) == 2
    assert "set init_step to 3" in capsys.readouterr().err
