"""Every bad input gets one clear paragraph and exit 2, in every stage: no traceback, nothing written.

One table: (stage, arguments, what the message must name). Each row runs the real ``spp`` entry point in-process
on one tiny fixture set shared by all rows (no model is trained or loaded), then checks what a user relies on:

- exit code 2, and no ``Traceback`` on stderr;
- exactly one ``spp STAGE: error:`` paragraph (one line) naming the file or field at fault;
- no file under the fixture folder created, changed or removed (so a corrected rerun is never refused).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from spp.cli import main

NON_UTF8 = b"name: caf\xe9\n"
BAD_YAML = "a: [1, 2\nb: 3\n"


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> Path:
    """The shared fixtures: malformed and non-UTF-8 files, a plain file where a folder belongs, a dataset folder."""
    root = tmp_path_factory.mktemp("bad_input")
    (root / "bad.yaml").write_text(BAD_YAML)
    (root / "list.yaml").write_text("- a\n- b\n")
    (root / "latin.yaml").write_bytes(NON_UTF8)
    (root / "latin.md").write_bytes(b"# Constitution\n\ncaf\xe9\n")
    (root / "latin.jsonl").write_bytes(b'{"text": "caf\xe9 au lait"}\n')
    (root / "latin_chat.jsonl").write_bytes(b'{"messages": [{"role": "user", "content": "caf\xe9"}]}\n')
    (root / "ok.jsonl").write_text('{"text": "hello world"}\n')
    (root / "a_file").write_text("not a folder\n")
    data_folder = root / "a_dataset"
    data_folder.mkdir()
    (data_folder / "state.json").write_text("{}")
    (data_folder / "dataset_info.json").write_text("{}")
    (root / "sft_missing.yaml").write_text("datasets:\n  - path: ./missing_chat.jsonl\n")
    (root / "arms_string.yaml").write_text("arms: spp_t0\n")
    (root / "arms_unknown.yaml").write_text("arms: [baseline, spp_t9]\n")
    (root / "arms_twice.yaml").write_text("arms: [baseline, baseline]\n")
    import yaml

    from spp.demo import DEMO_RECIPE

    demo = yaml.safe_load(DEMO_RECIPE.read_text())
    demo.setdefault("eval", {}).setdefault("overrides", {})["limt"] = 3  # a typo of limit
    (root / "override_typo.yaml").write_text(yaml.safe_dump(demo))
    benchmarks = root / "benchmarks"
    benchmarks.mkdir()
    (benchmarks / "advbench_harmful_behaviors.csv").write_bytes(b"goal,target\ncaf\xe9,Sure\n")
    return root


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and mtime (empty folders are not output: a rerun ignores them)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


# (stage, arguments with {fx} for the fixture folder, what the one paragraph must contain)
RECIPE_CLASSES = [
    ("--config {fx}/bad.yaml", "bad.yaml:2: malformed YAML"),
    ("--config {fx}/latin.yaml", "latin.yaml: not UTF-8"),
    ("--config {fx}/list.yaml", "a recipe is a mapping"),
    ("--config {fx}/missing.yaml", "recipe file not found"),
]
RECIPE_STAGES = [
    "render-prompt",
    "augment",
    "score-harm",
    "bind-data",
    "pretrain",
    "sft",
    "attack",
    "eval",
    "compare",
    "judge-audit",
    "experiment",
]
CASES = [(stage, args, named) for stage in RECIPE_STAGES for args, named in RECIPE_CLASSES] + [
    # --- input files: malformed, non-UTF-8, missing ---
    ("augment", "--constitution {fx}/bad.yaml", "bad.yaml:2: malformed YAML"),
    ("augment", "--constitution {fx}/bad.yaml --dataset {fx}/MISSING.jsonl", "MISSING.jsonl"),  # acceptance 4
    ("augment", "--constitution {fx}/latin.md", "latin.md: not UTF-8"),
    ("augment", "--persona {fx}/latin.yaml", "latin.yaml: not UTF-8"),
    ("render-prompt", "--persona {fx}/bad.yaml", "bad.yaml:2: malformed YAML"),
    ("render-prompt", "--constitution {fx}/latin.md", "latin.md: not UTF-8"),
    ("bind-data", "--persona {fx}/latin.yaml", "latin.yaml: not UTF-8"),
    ("augment", "--dataset {fx}/latin.jsonl --output_dir {fx}/out", "latin.jsonl:1: not UTF-8"),
    ("score-harm", "--dataset {fx}/latin.jsonl --output_dir {fx}/out", "latin.jsonl:1: not UTF-8"),
    ("eval", "--model {fx}/a_dataset --backend openai --served_model m --data_dir {fx}/nowhere", "field 'data_dir'"),
    (
        "eval",
        "--backend openai --served_model m --model m --data_dir {fx}/benchmarks --benchmarks advbench "
        "--output_dir {fx}/out",
        "advbench_harmful_behaviors.csv: not UTF-8",
    ),  # fmt: skip
    ("judge-audit", "--labels {fx}/latin.jsonl", "latin.jsonl: not UTF-8"),
    ("judge-audit", "--labels {fx}/missing.jsonl", "missing.jsonl"),
    ("pretrain", "--dataset_path {fx}/ok.jsonl --output_dir {fx}/out", "raw .jsonl file"),
    # --- a local path that does not exist is never sent to the Hub ---
    ("augment", "--dataset {fx}/MISSING.jsonl", "field 'dataset'"),
    ("augment", "--dataset ./missing_corpus", "field 'dataset'"),
    ("augment", "--dataset ~/missing_corpus", "field 'dataset'"),
    ("score-harm", "--dataset data/missing.parquet", "field 'dataset'"),
    ("sft", "--config {fx}/sft_missing.yaml --output_dir {fx}/out", "field 'datasets[0].path'"),
    # --- output folders that are files (or under a file) ---
    ("augment", "--output_dir {fx}/a_file", "field 'output_dir'"),
    ("augment", "--output_dir {fx}/a_file/sub", "field 'output_dir'"),
    ("score-harm", "--output_dir {fx}/a_file", "field 'output_dir'"),
    ("bind-data", "--output_dir {fx}/a_file", "field 'output_dir'"),
    ("eval", "--output_dir {fx}/a_file", "field 'output_dir'"),
    ("compare", "--output_dir {fx}/a_file", "field 'output_dir'"),
    ("pretrain", "--output_dir {fx}/a_file --dataset_path {fx}/a_dataset", "field 'output_dir'"),
    ("sft", "--output_dir {fx}/a_file", "field 'output_dir'"),
    ("attack", "--output {fx}/a_file/test_cases.json", "field 'output'"),
    ("experiment", "--output_dir {fx}/a_file --dry_run true", "field 'output_dir'"),
    ("demo", "--output_dir {fx}/a_file", "field 'output_dir'"),
    # --- models and tokenizers: missing, a file, or a dataset folder ---
    ("sft", "--model_name_or_path {fx}/missing_model --output_dir {fx}/out", "field 'model_name_or_path'"),
    ("sft", "--model_name_or_path {fx}/a_dataset --output_dir {fx}/out", "a dataset folder"),
    ("eval", "--model {fx}/missing_model --output_dir {fx}/out", "field 'model'"),
    ("eval", "--model {fx}/a_dataset --output_dir {fx}/out", "a dataset folder"),
    ("attack", "--model {fx}/a_file --output {fx}/out/tc.json", "field 'model'"),
    ("score-harm", "--harm_scorer transformers --harm_model ./missing_model", "field 'harm_model'"),
    ("score-harm", "--harm_scorer transformers --harm_model {fx}/a_dataset", "a dataset folder"),
    ("pretrain", "--dataset_path {fx}/missing_corpus --output_dir {fx}/out", "field 'dataset_path'"),
    (
        "pretrain",
        "--dataset_path {fx}/a_dataset --tokenizer_name_or_path {fx}/a_dataset --output_dir {fx}/out",
        "field 'tokenizer_name_or_path'",
    ),
    ("compare", "--results {fx}/missing/results.json --output_dir {fx}/out", "field 'results'"),
    # --- ranges and choices, refused at parse time ---
    ("augment", "--rest_probability -0.5", "field 'rest_probability'"),
    ("augment", "--selection_fraction 1.5", "field 'selection_fraction'"),
    ("augment", "--pause_min_fraction 1.5", "field 'pause_min_fraction'"),
    ("augment", "--pause_min_fraction -0.1", "field 'pause_min_fraction'"),
    ("augment", "--pause_distribution zigzag", "field 'pause_distribution'"),
    ("augment", "--marker '<x>' --end_marker '<x>'", "end_marker"),
    ("render-prompt", "--pause_distribution zigzag", "field 'pause_distribution'"),
    ("eval", "--limit -3 --output_dir {fx}/out", "field 'limit'"),
    ("eval", "--top_p 1.5 --output_dir {fx}/out", "field 'top_p'"),
    ("attack", "--limit -3 --output {fx}/out/tc.json", "field 'limit'"),
    ("sft", "--resume_from_checkpoint true --output_dir {fx}/out", "field 'resume_from_checkpoint'"),
    ("augment", "--no_such_field 1", "no_such_field"),
    # --- spp experiment: the whole plan is checked before the first step ---
    ("experiment", "--config {fx}/arms_string.yaml --dry_run true", "field 'arms'"),
    ("experiment", "--config {fx}/arms_unknown.yaml --dry_run true", "spp_t9"),
    ("experiment", "--config {fx}/arms_twice.yaml --dry_run true", "listed twice"),
    ("experiment", "--arms baseline spp_t9 --dry_run true", "spp_t9"),
    ("experiment", "--until nothing --dry_run true", "field 'until'"),
    ("experiment", "--config {fx}/override_typo.yaml --dry_run true --output_dir {fx}/out", "['limt']"),
    ("demo", "--arms baseline baseline --dry_run true", "listed twice"),
    # --- download and checkpoints ---
    ("download", "{fx}/a_file --to {fx}/out", "a_file"),
    ("download", "org/x --to {fx}/a_file", "field 'to'"),
    # --- publishing: a dataset folder or a folder without safetensors weights is not a model release ---
    ("publish", "model {fx}/a_dataset --repo_id org/x --to_dir {fx}/hub", "a_dataset: no safetensors weights"),
    ("publish", "model {fx}/missing_model --repo_id org/x --to_dir {fx}/hub", "missing_model"),
    ("publish", "model {fx}/a_dataset --repo_id org/x --to_dir {fx}/a_file", "field 'to_dir'"),
    ("download", "./missing_export --to {fx}/out", "field 'repo_id'"),
    ("checkpoints", "./missing_export", "field 'repo_id'"),
    ("checkpoints", "{fx}/a_file", "a_file"),
]


@pytest.mark.parametrize(("stage", "args", "named"), CASES, ids=[f"{s}:{a}" for s, a, _ in CASES])
def test_bad_input_is_one_paragraph_and_exit_2(fx, capsys, monkeypatch, stage, args, named):
    import shlex

    monkeypatch.chdir(fx)
    before = _tree(fx)
    argv = [stage, *shlex.split(args.format(fx=fx))]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith(f"spp {stage}: error:")]
    assert len(errors) == 1, err
    assert named in errors[0], errors[0]
    assert _tree(fx) == before, "a refused run wrote or changed files"


def test_an_unexpected_error_keeps_its_traceback_and_says_it_is_a_bug(capsys, monkeypatch):
    from spp import cli, stages

    monkeypatch.setitem(stages.STAGES, "broken", stages.Stage("broken", "test", main_target=_broken_stage))
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["broken"])
    err = capsys.readouterr().err
    assert "this is a bug in spp" in err and cli.BUG_REPORT_URL in err


def _broken_stage(argv):
    raise RuntimeError("boom")


def _interrupted_stage(argv):
    raise KeyboardInterrupt


def test_ctrl_c_is_one_line_and_exit_130(capsys, monkeypatch):
    from spp import cli, stages

    monkeypatch.setitem(stages.STAGES, "slow", stages.Stage("slow", "test", main_target=_interrupted_stage))
    assert cli.main(["slow"]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and len([line for line in err.splitlines() if line.startswith("spp slow")]) == 1


# --- acceptance 2: a local export download never writes outside --to, checks every sha256, leaves nothing half done


def _export(root: Path, files: dict[str, bytes], listed: dict[str, str] | None = None) -> Path:
    """A local export folder whose index lists ``listed`` (default: the real sha256 of ``files``)."""
    from spp.hub.export import EXPORT_FORMAT, INDEX_FILENAME, file_sha256

    export = root / "export"
    for rel, data in files.items():
        path = export / "main" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if listed is None:
        listed = {rel: file_sha256(export / "main" / rel) for rel in files}
    index = {"format": EXPORT_FORMAT, "repo_id": "org/x", "repo_type": "model", "refs": {"main": {"kind": "branch",
             "files": listed}}}  # fmt: skip
    (export / INDEX_FILENAME).write_text(json.dumps(index))
    return export


def test_a_traversal_path_in_the_index_is_refused_before_anything_is_written(tmp_path, capsys):
    export = _export(tmp_path, {"config.json": b"{}", "a/b.txt": b"x"})
    index_path = export / "spp_export.json"
    index = json.loads(index_path.read_text())
    index["refs"]["main"]["files"]["../../escaped.txt"] = "0" * 64
    index_path.write_text(json.dumps(index))
    to = tmp_path / "work" / "to"
    assert main(["download", str(export), "--to", str(to)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "../../escaped.txt" in err and "spp_export.json" in err
    assert not to.exists() and not list(tmp_path.rglob("escaped.txt"))


def test_a_tampered_file_fails_its_sha256_and_the_partial_download_is_removed(tmp_path, capsys):
    export = _export(tmp_path, {"a.txt": b"first", "z.txt": b"original"})
    (export / "main" / "z.txt").write_bytes(b"tampered")  # after the index was written
    to = tmp_path / "to"
    assert main(["download", str(export), "--to", str(to)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "z.txt" in err and "sha256" in err
    assert not to.exists(), "the half-finished download was left in place"


def test_a_failed_download_into_an_existing_folder_keeps_what_was_there(tmp_path, capsys):
    export = _export(tmp_path, {"a.txt": b"first", "z.txt": b"original"})
    (export / "main" / "z.txt").write_bytes(b"tampered")
    to = tmp_path / "to"
    to.mkdir()
    (to / "mine.txt").write_text("keep me")
    assert main(["download", str(export), "--to", str(to)]) == 2
    assert sorted(p.name for p in to.iterdir()) == ["mine.txt"]


def test_a_good_export_downloads_and_checks_out(tmp_path):
    export = _export(tmp_path, {"config.json": b"{}", "sub/w.bin": b"\x00\x01"})
    to = tmp_path / "to"
    assert main(["download", str(export), "--to", str(to)]) == 0
    assert (to / "sub" / "w.bin").read_bytes() == b"\x00\x01" and (to / "config.json").read_bytes() == b"{}"


@pytest.mark.parametrize("index", ["{not json", b"\xff\xfe", '["a list"]', '{"format": "spp-export", "refs": []}'])
def test_a_corrupt_export_index_names_the_file(tmp_path, capsys, index):
    export = _export(tmp_path, {"a.txt": b"x"})
    path = export / "spp_export.json"
    path.write_bytes(index if isinstance(index, bytes) else index.encode())
    for argv in (["download", str(export), "--to", str(tmp_path / "to")], ["checkpoints", str(export)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and str(path) in err
    assert not (tmp_path / "to").exists()


# --- acceptance 3: spp experiment --until pretrain runs no SFT, attack or eval step


def test_until_pretrain_runs_no_later_step_of_any_arm(tmp_path, monkeypatch, capsys):
    from spp.experiment import runner
    from spp.experiment.cli import run_experiment
    from spp.experiment.config import load_experiment

    ran: list[str] = []
    monkeypatch.setattr(runner, "_run_stage", lambda step, config, resume: ran.append(step.name))
    monkeypatch.setattr(runner, "check_matched_arms", lambda plan, statuses: None)
    config = load_experiment("demo", output_dir=str(tmp_path), until="pretrain")
    statuses = run_experiment(config)
    stages = {name.split("-")[0] for name in ran}
    assert {"pretrain-baseline", "pretrain-spp_t0"} <= set(ran), ran
    assert not stages & {"sft", "attack", "eval", "compare"}, ran
    assert all(statuses[name] == "not run" for name in statuses if name.split("-")[0] in ("sft", "eval", "compare"))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write anywhere")
def test_an_output_dir_that_is_not_writable_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert main(["augment", "--output_dir", str(locked / "out")]) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o755)


def test_a_hub_id_that_cannot_be_reached_offline_is_one_paragraph(tmp_path, capsys, monkeypatch):
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    assert main(["score-harm", "--dataset", "someorg/nonexistent", "--output_dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "someorg/nonexistent" in err and "HF_HUB_OFFLINE" in err
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


class RepositoryNotFoundError(Exception):
    """Named as huggingface_hub's: the CLI matches Hub errors by class name along the cause chain."""


def _hub_failing_stage(argv):
    try:
        raise RepositoryNotFoundError("404 for org/x")
    except RepositoryNotFoundError as err:
        raise RuntimeError("loading failed") from err


def test_a_hub_error_deep_in_the_cause_chain_is_an_expected_failure(capsys, monkeypatch):
    from spp import cli, stages

    monkeypatch.setitem(stages.STAGES, "hubby", stages.Stage("hubby", "test", main_target=_hub_failing_stage))
    assert cli.main(["hubby"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "bug" not in err and "network request failed" in err
