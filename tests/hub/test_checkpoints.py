"""HubCheckpointCallback under a real transformers Trainer: every save on its own branch, in order, none skipped."""

from __future__ import annotations

import json

import pytest

from spp.hub.checkpoints import HubCheckpointCallback, HubUploadError
from spp.hub.export import LocalExport
from spp.hub.retry import RetryPolicy

STEPS = [f"step-{n:07d}" for n in (2, 4, 6, 8, 10)]
NO_WAIT = RetryPolicy(max_retries=3, sleep=lambda seconds: None)


def train(output_dir, callback, model, max_steps=10, save_steps=2):
    import torch
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    torch.manual_seed(0)
    ids = [[(i + j) % 64 for j in range(8)] for i in range(16)]
    data = Dataset.from_dict({"input_ids": ids, "labels": ids})
    args = TrainingArguments(
        output_dir=str(output_dir),
        max_steps=max_steps,
        save_steps=save_steps,
        save_total_limit=2,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        logging_steps=100,
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[callback])
    trainer.train()
    return trainer


def test_every_save_lands_on_its_own_branch_of_a_local_export(tmp_path, spp_meta, stub):
    export_dir = tmp_path / "export"
    callback = HubCheckpointCallback(to_dir=str(export_dir), metadata=spp_meta, tag="v0.1")
    train(tmp_path / "out", callback, stub.tiny_llama())

    export = LocalExport(export_dir)
    assert export.checkpoints() == STEPS
    assert callback.uploaded == [*STEPS, "main"]
    assert export.refs("tag") == ["v0.1"]
    for branch in STEPS:
        files = export.files(branch)
        assert {"model.safetensors", "config.json", "README.md", "spp.json", "trainer_state.json"} <= set(files)
        assert not {"optimizer.pt", "scheduler.pt", "training_args.bin"} & set(files)
        meta = json.loads((export_dir / branch / "spp.json").read_text())
        assert (meta["kind"], meta["details"]["step"], meta["arm"]) == ("checkpoint", int(branch[5:]), "spp_t0")
    # main holds the final (step 10) weights with a model card; staging is cleaned up
    assert export.files("main")["model.safetensors"] == export.files("step-0000010")["model.safetensors"]
    assert "step-NNNNNNN" in (export_dir / "main" / "README.md").read_text()
    assert not (tmp_path / "out" / ".hub_staging").exists()


def test_hub_path_makes_exactly_the_expected_calls_in_order(tmp_path, spp_meta, stub):
    api = stub.RecordingApi()
    callback = HubCheckpointCallback(repo_id="org/spp-tiny", api=api, metadata=spp_meta, tag="v0.1", retry=NO_WAIT)
    train(tmp_path / "out", callback, stub.tiny_llama())

    uploads = [(u["revision"], u["commit_message"], u["repo_type"]) for u in api.uploads]
    assert uploads == [
        *((b, f"spp: checkpoint at step {int(b[5:])} ({b})", "model") for b in STEPS),
        ("main", "spp: final model (step 10)", "model"),
    ]
    assert api.names()[:3] == ["create_repo", "create_branch", "upload_folder"]
    assert api.names().count("create_repo") == 1
    branches = [kw["branch"] for name, kw in api.calls if name == "create_branch"]
    assert branches == STEPS
    assert all(kw["repo_id"] == "org/spp-tiny" for _, kw in api.calls)
    assert [u["delete_patterns"] for u in api.uploads] == ["*"] * 5 + [None]
    assert {"model.safetensors", "config.json", "README.md", "spp.json"} <= set(api.uploads[0]["files"])
    assert api.calls[-1] == ("create_tag", {"repo_id": "org/spp-tiny", "tag": "v0.1", "revision": "main",
                                            "repo_type": "model", "exist_ok": True})  # fmt: skip


def test_a_429_on_the_third_upload_is_retried_and_lands(tmp_path, spp_meta, stub):
    api = stub.RecordingApi(failures={3: [stub.http_error(429), stub.http_error(503)]})
    callback = HubCheckpointCallback(repo_id="org/spp-tiny", api=api, metadata=spp_meta, retry=NO_WAIT)
    train(tmp_path / "out", callback, stub.tiny_llama())

    assert [u["revision"] for u in api.uploads] == [*STEPS, "main"]
    assert api.upload_tries == 8
    assert api.names().count("upload_folder:failed") == 2
    assert callback.failed == []


def test_a_permanent_failure_is_raised_by_name_at_the_end_of_training(tmp_path, spp_meta, stub):
    api = stub.RecordingApi(failures={2: [stub.http_error(403)]})
    callback = HubCheckpointCallback(repo_id="org/spp-tiny", api=api, metadata=spp_meta, retry=NO_WAIT)
    with pytest.raises(HubUploadError, match=r"step-0000004: HfHubHTTPError \(HTTP 403\)") as caught:
        train(tmp_path / "out", callback, stub.tiny_llama())

    assert [rev for rev, _ in caught.value.failed] == ["step-0000004"]
    # the others still landed, in order
    assert [u["revision"] for u in api.uploads] == ["step-0000002", *STEPS[2:], "main"]


def test_retries_run_out_on_a_persistent_429(tmp_path, spp_meta, stub):
    api = stub.RecordingApi(failures={1: [stub.http_error(429)] * 10})
    callback = HubCheckpointCallback(
        repo_id="org/spp-tiny", api=api, metadata=spp_meta, retry=NO_WAIT, push_final=False
    )
    with pytest.raises(HubUploadError, match="step-0000002"):
        train(tmp_path / "out", callback, stub.tiny_llama(), max_steps=2)
    assert api.upload_tries == NO_WAIT.max_retries + 1


def test_offline_hub_fails_at_construction(monkeypatch, stub):
    from spp.errors import SppConfigError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SppConfigError, match="HF_HUB_OFFLINE=1"):
        HubCheckpointCallback(repo_id="org/spp-tiny", api=stub.RecordingApi())


def test_a_slow_hub_makes_training_wait_at_max_pending_and_loses_nothing(tmp_path, spp_meta, stub):
    import logging
    import threading
    import time

    class SlowApi(stub.RecordingApi):
        """Each upload blocks until the test opens the gate (a Hub slower than checkpointing); records how many
        staged checkpoints exist when it starts."""

        def __init__(self):
            super().__init__()
            self.gate = threading.Semaphore(0)
            self.staged_at_upload: list[int] = []

        def upload_folder(self, **kwargs):
            assert self.gate.acquire(timeout=30), "the test never opened the gate"
            self.staged_at_upload.append(len(list((tmp_path / "out" / ".hub_staging").glob("step-*"))))
            super().upload_folder(**kwargs)

    class Blocked(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.seen = threading.Event()

        def emit(self, record):
            if "training waits" in record.getMessage():
                self.seen.set()

    api, blocked = SlowApi(), Blocked()
    logging.getLogger("spp.hub").addHandler(blocked)

    def open_gate_once_training_is_blocked():
        # With the gate shut, upload 1 holds the worker and save 2 fills the queue (max_pending=1): save 3 must
        # block training and say so. Without the bound this never happens and the gate opens after 20 s.
        blocked.seen.wait(timeout=20)
        time.sleep(0.3)
        for _ in range(6):
            api.gate.release()

    opener = threading.Thread(target=open_gate_once_training_is_blocked)
    opener.start()
    callback = HubCheckpointCallback(repo_id="org/spp-tiny", api=api, metadata=spp_meta, retry=NO_WAIT, max_pending=1)
    try:
        train(tmp_path / "out", callback, stub.tiny_llama())
    finally:
        opener.join()
        logging.getLogger("spp.hub").removeHandler(blocked)

    assert blocked.seen.is_set() and callback.waited_seconds >= 0.25  # training waited for the Hub
    assert [u["revision"] for u in api.uploads] == [*STEPS, "main"]  # and nothing was skipped or reordered
    # staged trees never exceed: the one uploading + max_pending queued + one staged by a save waiting to queue
    assert max(api.staged_at_upload) <= 3
    assert not (tmp_path / "out" / ".hub_staging").exists()


def test_max_pending_must_not_be_negative(stub):
    with pytest.raises(ValueError, match="max_pending"):
        HubCheckpointCallback(to_dir="x", max_pending=-1)
