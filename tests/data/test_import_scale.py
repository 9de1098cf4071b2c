"""``spp import-reflections`` at scale: shards, datatrove's executor and streamed Hub datasets give the rows of one
local run; the sidecar index joins by the id itself (a hash collision never joins the wrong row); ``spp inspect``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from datasets import load_from_disk

from spp.cli import main as spp_main
from spp.testing.released import import_args

REL = ["--min_join_share", "0.9"]


@pytest.fixture(scope="module")
def single(released, tmp_path_factory) -> tuple[list[dict], dict]:
    out = tmp_path_factory.mktemp("single") / "out"
    assert spp_main(["import-reflections", *import_args(released, out, *REL)]) == 0
    return _result(out)


def _result(out: Path) -> tuple[list[dict], dict]:
    summary = json.loads((out / "summary.json").read_text())
    summary.pop("this_run", None)
    return load_from_disk(str(out)).to_list(), summary


def test_three_shards_then_a_merge_equal_one_process(released, single, tmp_path):
    out = tmp_path / "out"
    for shard in range(3):
        args = import_args(released, out, *REL, "--num_shards", "3", "--shard_index", str(shard))
        assert spp_main(["import-reflections", *args]) == 0
        assert not (out / "spp.json").exists()  # nothing is merged before every shard is done
    assert (
        spp_main(["import-reflections", *import_args(released, out, *REL, "--num_shards", "3", "--merge", "true")])
        == 0
    )
    assert _result(out) == single


@pytest.mark.slow
def test_the_datatrove_local_executor_equals_one_process(released, single, tmp_path):
    pytest.importorskip("datatrove")
    out = tmp_path / "out"
    args = import_args(released, out, *REL, "--executor", "local", "--tasks", "2", "--workers", "1")
    assert spp_main(["import-reflections", *args]) == 0
    assert _result(out) == single


def test_streamed_hub_corpus_and_sidecar_equal_the_local_run(released, single, tmp_path, monkeypatch):
    """The Hub boundary (``datasets.load_dataset`` of a Hub id) serves the fixture files as streams."""
    import datasets

    real = datasets.load_dataset
    files = {
        "org/corpus": ("json", str(released.corpus)),
        "dlab-spp/reflection-sample-2k": ("parquet", str(released.sidecar)),
    }
    calls = []

    def hub(path, name=None, split=None, revision=None, streaming=False, **kwargs):
        if path not in files:
            return real(path, name, split=split, revision=revision, streaming=streaming, **kwargs)
        calls.append((path, revision, streaming))
        builder, data_file = files[path]
        return real(builder, data_files=data_file, split=split, streaming=streaming)

    monkeypatch.setattr(datasets, "load_dataset", hub)
    out = tmp_path / "out"
    args = import_args(released, out, *REL, "--dataset", "org/corpus", "--streaming", "true",
                       "--sidecar", "dlab-spp/reflection-sample-2k", "--sidecar_revision", "abc123",
                       "--sidecar_streaming", "true")  # fmt: skip
    assert spp_main(["import-reflections", *args]) == 0
    assert ("org/corpus", None, True) in calls and ("dlab-spp/reflection-sample-2k", "abc123", True) in calls
    rows, summary = _result(out)
    local_rows, local_summary = single
    assert summary == local_summary
    # a stream declares no features of its own here: the carried `url` column may come out untyped; the rest match
    assert [{k: v for k, v in r.items()} for r in rows] == local_rows
    kept = out / ".spp-work" / "sidecar" / "sidecar.parquet"
    import pyarrow.parquet as pq

    assert "text" not in pq.read_schema(kept).names  # only the mapped columns of a streamed sidecar are kept
    meta = json.loads((out / "spp.json").read_text())
    assert meta["lineage"]["sidecar"] == {"repo_id": "dlab-spp/reflection-sample-2k", "revision": "abc123"}


def test_the_index_joins_by_the_id_itself_even_when_every_hash_collides(monkeypatch):
    import numpy as np
    import pyarrow as pa

    from spp.data import sidecar

    ids = pa.chunked_array([["a", "b", None], ["a", "c"]])

    def check(index):
        assert index.lookup(["c", "a", "b", "zzz", None]) == [4, 0, 1, None, None]  # "a": its first row
        assert index.duplicates.tolist() == [3] and index.missing.tolist() == [2]

    check(sidecar.SidecarIndex(ids))
    monkeypatch.setattr(sidecar, "id_hashes", lambda values: np.zeros(len(values), dtype=np.uint64))
    check(sidecar.SidecarIndex(ids))  # every id shares one hash: only the id comparison can tell them apart


def test_inspect_prints_the_columns_one_row_and_what_the_default_mapping_fills(released, capsys):
    assert spp_main(["inspect", str(released.sidecar)]) == 0
    out = capsys.readouterr().out
    assert "reflection_token_index" in out and "charter_reflection" in out  # columns and types
    assert "doc_id" in out and "first row:" in out
    assert re.search(r"\n  id +<- doc_id\n", out) and re.search(r"\n  end_position +<- reflection_end_position\n", out)
    assert "importable placements: pause, end" in out
    assert spp_main(["inspect", str(released.sidecar), "--mapping_overrides", "position=rp"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\n  position +<- rp \(MISSING\)\n", out) and "would stop (exit 2)" in out


def test_the_shipped_mapping_recipe_is_the_packaged_default():
    from spp.data.mapping import BUILTIN_DIR, MAPPING_FIELDS, load_mapping

    recipe = Path(__file__).parents[2] / "recipes" / "import" / "dlab-spp.yaml"
    assert recipe.read_bytes() == (BUILTIN_DIR / "dlab-spp.yaml").read_bytes()
    assert recipe.resolve() == (BUILTIN_DIR / "dlab-spp.yaml").resolve()  # one file: a link, not a copy
    mapping = load_mapping(str(recipe))
    assert set(mapping.columns) == set(MAPPING_FIELDS) and all(mapping.columns.values())


def test_the_import_stage_runs_from_a_recipe_mapping_as_spp_experiment_runs_it(released, single, tmp_path):
    from spp.recipes import configs_from_recipe
    from spp.stages import step_stage
    from spp.testing.released import AUTHORS, BUDGET, SEQ_LEN

    recipe = {
        "dataset": str(released.corpus), "sidecar": str(released.sidecar),
        "training_tokenizer": str(released.tokenizer),
        "marker": AUTHORS.marker, "end_marker": "", "seq_len": SEQ_LEN, "reflection_budget": BUDGET,
        "chunk_size": 8, "progress": False, "min_join_share": 0.9, "output_dir": str(tmp_path / "out"),
    }  # fmt: skip
    stage = step_stage("import")
    result = stage.run(configs_from_recipe(stage.types(), recipe))
    assert _result(tmp_path / "out") == single and "sidecar rows: 24" in stage.summary(result)


def test_the_shipped_import_recipe_reads_the_released_10m_set_with_the_authors_contract():
    from spp.data.import_cli import parse

    recipe = Path(__file__).parents[2] / "recipes" / "import" / "reflection-10m.yaml"
    configs = parse(["--config", str(recipe)])
    assert (configs.sidecar.sidecar, configs.sidecar.mapping) == ("dlab-spp/reflection-10m", "dlab-spp")
    assert configs.source.streaming and configs.sidecar.sidecar_streaming
    contract = configs.contract
    assert (contract.marker, contract.end_marker, contract.reflection_budget, contract.seq_len) == (
        "<assistant>", "", 128, 2048)  # fmt: skip
    assert configs.job.training_tokenizer == "HuggingFaceTB/SmolLM2-1.7B"


def test_the_readme_section_on_the_released_data_names_real_recipes_and_stages():
    from spp.stages import commands

    root = Path(__file__).parents[2]
    readme = (root / "README.md").read_text()
    section = readme.split("## Use the released data", 1)[1].split("\n## ", 1)[0]
    for needed in ("spp import-reflections", "spp inspect", "recipes/sft/released.yaml", "Not verified"):
        assert needed in section
    for recipe in set(re.findall(r"recipes/[\w./-]+\.yaml", section)):
        assert (root / recipe).is_file(), recipe
    for stage in set(re.findall(r"^(?:accelerate launch .* -m )?spp ([\w-]+)", section, flags=re.M)):
        assert stage in commands(), stage
