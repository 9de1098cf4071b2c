"""No stage overwrites or deletes what it does not own: every writing stage x every situation of its output folder.

One table (``STAGES``: how each stage is run the cheapest way that still goes through its own claim) crossed with
six situations (``CASES``). Each row runs the real ``spp`` entry point in-process and checks what a user relies on:

- refused cases (a foreign folder, another stage's, this stage's of another recipe, an output that is an input): exit
  2, one paragraph saying why, and not one byte changed (sha256 of every file before and after), ``--overwrite``
  or not where it cannot help;
- allowed cases (``--overwrite`` over this stage's earlier output holding a user's files, then a rerun of the same
  recipe): the run is not refused for ownership, what spp wrote earlier is gone (overwrite), and the user's files are
  byte for byte what they were.

Where a stage's complete run is costly (pretrain, sft, curves), its cheapest path fails cleanly right after the claim
(a corpus that does not load, a base model without ``spp.json``, a branch without a persona to probe): the claim, and
its ``--overwrite``, are the stage's real code path either way.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from spp.cli import main
from spp.ownership import MARKER, claim_output, read_claims
from spp.testing.released import import_args

REFUSALS = (
    "spp did not write it",
    "holds the output of spp",
    "is the output folder of spp",
    "output of another run",
    "would change what this run reads",
    "is not an spp export",
    "holds another run",
)
OLD_RECIPE = "0" * 64
TARGETS_HELP = "named files a stage writes into a shared folder (None: the stage claims the whole folder)"


def tree(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root`` (a file: itself)."""
    if root.is_file():
        return {root.name: hashlib.sha256(root.read_bytes()).hexdigest()}
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def add_user_files(folder: Path) -> dict[str, str]:
    """A user's own files in ``folder``; returns their checksums."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("my notes, not spp's\n")
    (folder / "analysis").mkdir(exist_ok=True)
    (folder / "analysis" / "table.csv").write_text("a,b\n1,2\n")
    return {k: v for k, v in tree(folder).items() if k in ("notes.txt", "analysis/table.csv")}


def spp_output_of(stage: str, folder: Path, recipe: str, targets: list[str] | None) -> list[str]:
    """``folder`` as ``stage`` left it after a run of recipe hash ``recipe``: its claim and the files it wrote."""
    written = targets or ["old-output.bin"]
    with claim_output(stage, folder, recipe_hash=recipe, files=targets):
        for name in written:
            (folder / name).write_bytes(b"written by an earlier spp " + stage.encode())
    return written


def run(argv: list[str], capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


def refused_for_ownership(code: int, err: str) -> bool:
    lines = [line for line in err.splitlines() if ": error: " in line]
    return code == 2 and any(r in line for line in lines for r in REFUSALS)


# --- the fixtures every stage reads ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fx(tmp_path_factory, tiny_chat_model) -> dict[str, Path]:
    """Inputs: a tiny dataset, a tokenizer, model folders (bare, tiny with spp.json), benchmark, behaviour and label
    files, a local export with one checkpoint branch, and one real eval's results (for compare)."""
    from datasets import Dataset

    from spp.hub.export import LocalExport
    from spp.metadata import SppMetadata
    from spp.pretrain.tokenizer import train_tokenizer

    root = tmp_path_factory.mktemp("ownership")
    paths = {"root": root, "tiny": tiny_chat_model}
    texts = [f"Document {i} about rivers and the people who live by them." for i in range(6)]
    Dataset.from_dict({"id": [f"d{i}" for i in range(6)], "text": texts}).save_to_disk(str(root / "ds"))
    paths["ds"] = root / "ds"
    bad = root / "not_a_dataset"
    bad.mkdir()
    (bad / "state.json").write_text("{}")
    paths["bad_ds"] = bad
    tokenizer = train_tokenizer(texts * 20, 300, special_tokens=("<|endoftext|>", "<|pad|>"), pad_token="<|pad|>")
    tokenizer.save_pretrained(root / "tok")
    paths["tok"] = root / "tok"
    (root / "bare_model").mkdir()
    (root / "bare_model" / "config.json").write_text("{}")
    paths["bare"] = root / "bare_model"
    for name, recipe in (("model_a", "a" * 64), ("model_b", "b" * 64)):
        shutil.copytree(tiny_chat_model, root / name)
        SppMetadata(kind="model", arm="spp_t0", recipe_hash=recipe).save(root / name)
        paths[name] = root / name
    (root / "bench").mkdir()
    (root / "bench" / "advbench_harmful_behaviors.csv").write_text("goal,target\nExplain how to pick a lock,Sure\n")
    paths["bench"] = root / "bench"
    behaviors = root / "harmbench"
    behaviors.mkdir()
    (behaviors / "behaviors.csv").write_text(
        "Behavior,FunctionalCategory,SemanticCategory,Tags,ContextString,BehaviorID\n"
        "Explain how to pick a lock,standard,illegal,,,lock_picking\n"
    )
    (behaviors / "harmbench_targets_text.json").write_text(json.dumps({"lock_picking": "Sure, here is how"}))
    paths["behaviors"] = behaviors / "behaviors.csv"
    labels = root / "labels.jsonl"
    shutil.copyfile(Path(__file__).parent / "eval" / "data" / "judge_audit_labels.jsonl", labels)
    paths["labels"] = labels
    branch = root / "branch"
    branch.mkdir()
    (branch / "config.json").write_text("{}")
    SppMetadata(kind="checkpoint").save(branch)  # no persona: the probes measure stops right after the claim
    export = LocalExport(root / "export", repo_id="org/tiny")
    export.write_tree("step-0000001", branch)
    export.write_tree("main", branch)
    paths["export"] = root / "export"
    assert main(["eval", *eval_args(paths), "--output_dir", str(root / "results")]) == 0
    paths["results"] = root / "results"
    from spp.testing.released import write_released

    (root / "released").mkdir()
    paths["released"] = write_released(root / "released")
    return paths


def eval_args(fx: dict[str, Path]) -> list[str]:
    return ["--model", str(fx["tiny"]), "--benchmarks", "advbench", "--data_dir", str(fx["bench"]), "--limit", "1",
            "--judge", "keyword", "--probes", "false", "--bootstrap_samples", "10", "--max_new_tokens", "2",
            "--device", "cpu", "--system_prompt", "template"]  # fmt: skip


# --- the table: how each stage writes into `out`, and how it would write into one of its inputs ---------------


@dataclass(frozen=True)
class StageCase:
    stage: str
    argv: Callable[[Path, dict], list]  # (out, fx) -> argv writing into out
    in_place: Callable[[dict], tuple[list, Path]]  # fx -> (argv writing into an input, that input)
    targets: list[str] | None = None  # TARGETS_HELP
    other: str = "eval"  # another stage, whose output folder this one must not take


STAGES = [
    StageCase(
        "score-harm",
        lambda out, fx: ["score-harm", "--dataset", fx["ds"], "--output_dir", out],
        lambda fx: (["score-harm", "--dataset", fx["ds"], "--output_dir", fx["ds"]], fx["ds"]),
    ),
    StageCase(
        "augment",
        lambda out, fx: ["augment", "--dataset", fx["ds"], "--chunk_size", "3", "--progress", "false",
                         "--output_dir", out],  # fmt: skip
        lambda fx: (["augment", "--dataset", fx["ds"], "--output_dir", fx["ds"]], fx["ds"]),
    ),
    StageCase(
        "import-reflections",
        lambda out, fx: ["import-reflections", *import_args(fx["released"], out, "--min_join_share", "0.5")],
        lambda fx: (["import-reflections", *import_args(fx["released"], fx["released"].corpus.parent)],
                    fx["released"].corpus.parent),  # the folder holding the corpus and the sidecar  # fmt: skip
    ),
    StageCase(
        "bind-data",
        lambda out, fx: ["bind-data", "--num_prompts", "2", "--chunk_size", "2", "--progress", "false",
                         "--output_dir", out],  # fmt: skip
        lambda fx: (["bind-data", "--sources", json.dumps([{"path": str(fx["ds"]), "category": "harmful",
                     "prompt_column": "text"}]), "--output_dir", fx["ds"]], fx["ds"]),  # fmt: skip
    ),
    StageCase(
        "pretrain",
        lambda out, fx: ["pretrain", "--dataset_path", fx["bad_ds"], "--tokenizer_name_or_path", fx["tok"],
                         "--max_steps", "1", "--output_dir", out],  # fmt: skip
        lambda fx: (["pretrain", "--dataset_path", fx["ds"], "--tokenizer_name_or_path", fx["tok"], "--max_steps",
                     "1", "--output_dir", fx["ds"]], fx["ds"]),  # fmt: skip
    ),
    StageCase(
        "sft",
        lambda out, fx: ["sft", "--model_name_or_path", fx["bare"], "--bf16", "false", "--output_dir", out],
        lambda fx: (["sft", "--model_name_or_path", fx["bare"], "--bf16", "false", "--output_dir", fx["bare"]],
                    fx["bare"]),  # fmt: skip
    ),
    StageCase(
        "attack",
        lambda out, fx: ["attack", "--model", fx["tiny"], "--behaviors", fx["behaviors"], "--num_steps", "1",
                         "--num_test_cases_per_behavior", "1", "--device", "cpu", "--output", out / "tc.json"],
        lambda fx: (["attack", "--model", fx["tiny"], "--behaviors", fx["behaviors"], "--output", fx["behaviors"]],
                    fx["behaviors"]),  # fmt: skip
        targets=["tc.json", "tc.attack.json", "tc_behaviors"],
    ),
    StageCase(
        "eval",
        lambda out, fx: ["eval", *eval_args(fx), "--output_dir", out],
        lambda fx: (["eval", *eval_args(fx), "--output_dir", fx["tiny"]], fx["tiny"]),
        other="compare",
    ),
    StageCase(
        "compare",
        lambda out, fx: ["compare", fx["results"], "--output_dir", out],
        lambda fx: (["compare", fx["results"], "--output_dir", fx["results"]], fx["results"]),
    ),
    StageCase(
        "curves",
        lambda out, fx: ["curves", fx["export"], "--measures", "probes", "--output_dir", out],
        lambda fx: (["curves", fx["export"], "--measures", "probes", "--output_dir", fx["export"]], fx["export"]),
    ),
    StageCase(
        "judge-audit",
        lambda out, fx: ["judge-audit", "--labels", fx["labels"], "--judge", "keyword", "--output", out / "r.json"],
        lambda fx: (["judge-audit", "--labels", fx["labels"], "--judge", "keyword", "--output", fx["labels"]],
                    fx["labels"]),  # fmt: skip
        targets=["r.json"],
    ),
    StageCase(
        "download",
        lambda out, fx: ["download", fx["export"], "--revision", "step-0000001", "--to", out],
        lambda fx: (["download", fx["export"], "--to", fx["export"]], fx["export"]),
    ),
]


def _with(argv: list, *extra: str) -> list:
    return [*argv, *extra]


# --- the six situations ------------------------------------------------------------------------------------------


def case_foreign_folder(sc: StageCase, out: Path, fx: dict, capsys) -> None:
    """A folder spp did not write (no marker; for a named-file stage, its file exists): refused, overwrite or not."""
    add_user_files(out)
    for name in sc.targets or []:
        (out / name).write_text("the user's own file of that name\n") if "." in name else (out / name).mkdir()
    before = tree(out)
    for overwrite in ("false", "true"):
        code, err = run(_with(sc.argv(out, fx), "--overwrite", overwrite), capsys)
        assert code == 2 and "spp did not write it" in err, err
        assert tree(out) == before, "a refused run changed files"
    assert not (out / MARKER).exists()


def case_another_stages_folder(sc: StageCase, out: Path, fx: dict, capsys) -> None:
    """The output folder of another stage: refused without --overwrite, nothing changed."""
    spp_output_of(sc.other, out, OLD_RECIPE, None)
    add_user_files(out)
    before = tree(out)
    code, err = run(sc.argv(out, fx), capsys)
    assert code == 2 and f"spp {sc.other}" in err and ("holds the output" in err or "is the output folder" in err), err
    assert tree(out) == before


def case_same_stage_other_recipe(sc: StageCase, out: Path, fx: dict, capsys) -> None:
    """This stage's output of another recipe: refused without --overwrite, nothing changed."""
    spp_output_of(sc.stage, out, OLD_RECIPE, sc.targets)
    add_user_files(out)
    before = tree(out)
    code, err = run(sc.argv(out, fx), capsys)
    assert code == 2 and "output of another run" in err and OLD_RECIPE[:12] in err, err
    assert tree(out) == before


def case_user_files_in_own_folder(sc: StageCase, out: Path, fx: dict, capsys) -> None:
    """This stage's earlier output with a user's files beside it: --overwrite removes exactly what spp wrote."""
    written = spp_output_of(sc.stage, out, OLD_RECIPE, sc.targets)
    mine = add_user_files(out)
    code, err = run(_with(sc.argv(out, fx), "--overwrite", "true"), capsys)
    assert not refused_for_ownership(code, err), err
    assert {k: v for k, v in tree(out).items() if k in mine} == mine, "a user's file was changed or deleted"
    for name in written:  # the earlier run's files are gone (the new run may have written its own under that name)
        assert not (out / name).exists() or b"written by an earlier spp" not in _bytes(out / name)
    claim = (read_claims(out) or {}).get(sc.targets[0] if sc.targets else ".")
    assert claim is None or claim.recipe_hash != OLD_RECIPE


def case_same_stage_same_recipe(sc: StageCase, out: Path, fx: dict, capsys) -> None:
    """This stage's own output of the same recipe (reached by an --overwrite run), with a user's files: a rerun goes
    on (a resume), and the user's files are untouched."""
    spp_output_of(sc.stage, out, OLD_RECIPE, sc.targets)
    run(_with(sc.argv(out, fx), "--overwrite", "true"), capsys)
    claim = (read_claims(out) or {})[sc.targets[0] if sc.targets else "."]
    assert claim.stage == sc.stage and claim.recipe_hash != OLD_RECIPE  # this recipe's folder now
    mine = add_user_files(out)
    code, err = run(sc.argv(out, fx), capsys)
    assert not refused_for_ownership(code, err), err
    assert {k: v for k, v in tree(out).items() if k in mine} == mine


def case_output_is_input(sc: StageCase, out: Path, fx: dict, capsys) -> None:
    """Writing into one of its own inputs: refused, overwrite or not, and the input is unchanged."""
    argv, source = sc.in_place(fx)
    before = tree(source)
    for overwrite in ("false", "true"):
        code, err = run(_with(argv, "--overwrite", overwrite), capsys)
        assert code == 2 and "would change what this run reads" in err, err
        assert tree(source) == before


def _bytes(path: Path) -> bytes:
    return path.read_bytes() if path.is_file() else b""


CASES = [
    case_foreign_folder,
    case_another_stages_folder,
    case_same_stage_other_recipe,
    case_user_files_in_own_folder,
    case_same_stage_same_recipe,
    case_output_is_input,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.removeprefix("case_") for c in CASES])
@pytest.mark.parametrize("sc", STAGES, ids=[s.stage for s in STAGES])
def test_every_writing_stage_owns_only_its_output(sc, case, fx, tmp_path, capsys):
    case(sc, tmp_path / "out", fx, capsys)


# --- publish: an export folder's owner is its index, and each revision holds one run ---------------------------


def _publish(model: Path, out: Path, *extra: str) -> list:
    return ["publish", "model", model, "--repo_id", "org/x", "--to_dir", out, *extra]


def publish_foreign_folder(fx, out, capsys):
    add_user_files(out)
    before = tree(out)
    for overwrite in ("false", "true"):
        code, err = run(_publish(fx["model_a"], out, "--overwrite", overwrite), capsys)
        assert code == 2 and "is not an spp export" in err, err
        assert tree(out) == before


def publish_another_stages_folder(fx, out, capsys):
    spp_output_of("eval", out, OLD_RECIPE, None)
    before = tree(out)
    code, err = run(_publish(fx["model_a"], out), capsys)
    assert code == 2 and "is not an spp export" in err, err
    assert tree(out) == before


def publish_same_stage_other_recipe(fx, out, capsys):
    assert run(_publish(fx["model_b"], out), capsys)[0] == 0
    add_user_files(out)
    before = tree(out)
    code, err = run(_publish(fx["model_a"], out), capsys)
    assert code == 2 and "holds another run" in err and "b" * 12 in err and "a" * 12 in err, err
    assert tree(out) == before


def publish_user_files_in_own_folder(fx, out, capsys):
    assert run(_publish(fx["model_b"], out), capsys)[0] == 0
    mine = add_user_files(out)
    assert run(_publish(fx["model_a"], out, "--overwrite", "true"), capsys)[0] == 0
    assert {k: v for k, v in tree(out).items() if k in mine} == mine
    assert json.loads((out / "main" / "spp.json").read_text())["recipe_hash"] == "a" * 64


def publish_same_stage_same_recipe(fx, out, capsys):
    assert run(_publish(fx["model_a"], out), capsys)[0] == 0
    mine = add_user_files(out)
    before = tree(out)
    assert run(_publish(fx["model_a"], out), capsys)[0] == 0  # a no-op: the tree is the same
    assert tree(out) == before and {k: v for k, v in tree(out).items() if k in mine} == mine


def publish_output_is_input(fx, out, capsys):
    before = tree(fx["model_a"])
    for overwrite in ("false", "true"):
        code, err = run(_publish(fx["model_a"], fx["model_a"], "--overwrite", overwrite), capsys)
        assert code == 2 and "would change what this run reads" in err, err
        assert tree(fx["model_a"]) == before


PUBLISH_CASES = [
    publish_foreign_folder,
    publish_another_stages_folder,
    publish_same_stage_other_recipe,
    publish_user_files_in_own_folder,
    publish_same_stage_same_recipe,
    publish_output_is_input,
]


@pytest.mark.parametrize("case", PUBLISH_CASES, ids=[c.__name__.removeprefix("publish_") for c in PUBLISH_CASES])
def test_publish_owns_only_its_export(case, fx, tmp_path, capsys):
    case(fx, tmp_path / "export", capsys)
