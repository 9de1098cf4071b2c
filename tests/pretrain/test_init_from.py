"""``spp pretrain --init_from``: continuing a released base (the stand-ins: no spp.json, an extended tokenizer, a
trajectory of ``stepN-tokensXB`` refs) from a local export and through the stubbed Hub."""

from __future__ import annotations

import json

import pytest
import torch

from spp.cli import main as spp_main
from spp.metadata import read_metadata
from spp.testing.release import base_repo, step_ref, write_release_corpus

pytestmark = pytest.mark.slow  # builds the release stand-ins and trains a few steps


@pytest.fixture(scope="module")
def corpus(release, tmp_path_factory):
    return write_release_corpus(tmp_path_factory.mktemp("corpus") / "corpus", release.tokenizer_dir, rows=80)


def _argv(corpus, out, *extra):
    return ["pretrain", "--dataset_path", str(corpus), "--arm", "spp_t0", "--seq_len", "128",
            "--reflection_budget", "64", "--max_steps", "3", "--per_device_train_batch_size", "2",
            "--logging_steps", "1", "--save_steps", "3", "--learning_rate", "1e-3", "--lr_scheduler_type", "linear",
            "--use_cpu", "true", "--report_to", "none", "--disable_tqdm", "true", "--output_dir", str(out),
            *extra]  # fmt: skip


def _history(out, step=3):
    return json.loads((out / f"checkpoint-{step}" / "trainer_state.json").read_text())["log_history"]


def _first_batch(export, ref, corpus, out):
    """The first training batch of the run ``_argv`` configures (built the way spp pretrain builds it)."""
    from spp.pretrain.builder import build_run
    from spp.pretrain.data import collate_windows
    from spp.pretrain.run import CONFIG_TYPES
    from spp.recipes import configs_from_recipe

    argv = _argv(corpus, out, "--init_from", str(export), "--init_revision", ref)[1:]
    recipe = {key.lstrip("-"): value for key, value in zip(argv[::2], argv[1::2], strict=True)}
    run = build_run(*configs_from_recipe(CONFIG_TYPES, recipe))
    windows = []
    for item in run.train_dataset.shard(0, 1, 2):
        windows.append(item)
        if len(windows) == 2:
            return collate_windows(windows), run.tokenizer
    raise AssertionError("fewer than two windows")


def _loss(model, batch) -> float:
    """Mean next-token cross-entropy over the batch's labelled positions, from the model's logits."""
    with torch.no_grad():
        logits = model.eval()(input_ids=batch["input_ids"]).logits
    keep = batch["shift_labels"] != -100
    return torch.nn.functional.cross_entropy(logits[keep], batch["shift_labels"][keep]).item()


def test_init_from_a_released_ref_trains_from_its_weights_and_records_the_parent(release, corpus, tmp_path):
    export, ref = release.base("vanilla"), step_ref(2000)
    out = tmp_path / "run"
    assert spp_main(_argv(corpus, out, "--init_from", str(export), "--init_revision", ref, "--init_step", "2000")) == 0
    first = _history(out)[0]
    assert first["step"] == 1
    from transformers import AutoModelForCausalLM

    from spp.testing.release import save_model

    batch, tokenizer = _first_batch(export, ref, corpus, tmp_path / "probe")
    weights = lambda folder: AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)  # noqa: E731
    loaded = _loss(weights(export / ref), batch)
    random_init = _loss(weights(save_model(tmp_path / "random", tokenizer, seed=7)), batch)
    other_step = _loss(weights(export / step_ref(1000)), batch)
    assert first["loss"] == pytest.approx(loaded, abs=1e-4)
    assert abs(random_init - loaded) > 1e-3 and abs(other_step - loaded) > 1e-3  # the test tells them apart
    meta = read_metadata(out)
    index = json.loads((export / "spp_export.json").read_text())
    from spp.hub.resolve import manifest_digest

    assert meta.lineage["init_from"] == {"id": str(export), "revision": ref, "source": "export", "step": 2000,
                                         "sha": manifest_digest(index["refs"][ref]["files"]),
                                         "metadata": "external"}  # fmt: skip
    assert meta.details["model_spec"] is None
    # the released tokenizer is used as it is: <assistant> and the charter tokens, not re-extended
    from transformers import AutoTokenizer

    saved = AutoTokenizer.from_pretrained(out)
    assert (
        len(saved) == len(AutoTokenizer.from_pretrained(export / ref))
        and saved.convert_tokens_to_ids("<assistant>") == len(saved) - 36
    )


def test_the_lr_schedule_continues_from_init_step(release, corpus, tmp_path):
    """3 steps entered at step 3 of a 6-step linear schedule = the last 3 steps of a 6-step run."""
    export = release.base("t0")
    full = tmp_path / "full"
    assert spp_main(_argv(corpus, full, "--init_from", str(export), "--max_steps", "6", "--save_steps", "6")) == 0
    tail = [h["learning_rate"] for h in _history(full, 6) if "learning_rate" in h][3:]
    cont = tmp_path / "continued"
    assert spp_main(_argv(corpus, cont, "--init_from", str(export), "--init_step", "3")) == 0
    assert [h["learning_rate"] for h in _history(cont) if "learning_rate" in h] == pytest.approx(tail)
    assert tail[0] < 1e-3 * 0.6  # not the schedule's start


def test_through_the_hub_the_revision_is_pinned_to_its_commit(release, corpus, tmp_path, hub):
    out = tmp_path / "run"
    assert spp_main(_argv(corpus, out, "--init_from", base_repo("mt"), "--init_revision", step_ref(3000))) == 0
    commit = hub.model_info(base_repo("mt"), revision=step_ref(3000)).sha
    assert read_metadata(out).lineage["init_from"]["sha"] == commit
    assert ("snapshot_download", base_repo("mt"), commit) in hub.calls


def test_bad_init_stops_with_one_paragraph_and_writes_nothing(release, corpus, tmp_path, hub, capsys):
    out = tmp_path / "run"
    assert spp_main(_argv(corpus, out, "--init_from", base_repo("mt"), "--init_revision", "step5")) == 2
    err = capsys.readouterr().err
    assert "field 'init_revision'" in err and "'step5'" in err and step_ref(1000) in err
    assert not out.exists()
    # a corpus augmented for another tokenizer: vocabulary size and marker ids named for both
    from spp.pretrain.tokenizer import train_tokenizer
    from spp.testing.release import release_texts

    other = train_tokenizer(release_texts(), 300)
    other.add_special_tokens({"additional_special_tokens": ["<assistant>"]})
    other.save_pretrained(tmp_path / "other-tokenizer")
    mismatched = write_release_corpus(tmp_path / "mismatched", tmp_path / "other-tokenizer", rows=20)
    assert spp_main(_argv(mismatched, out, "--init_from", str(release.base("mt")))) == 2
    err = capsys.readouterr().err
    assert "field 'init_from'" in err and "301 tokens" in err and "356 tokens" in err and not out.exists()
