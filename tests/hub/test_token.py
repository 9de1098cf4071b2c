"""The token in the environment never reaches a file spp writes, a log line, or an error message."""

from __future__ import annotations

import logging

import pytest

from spp.hub.checkpoints import HubCheckpointCallback, HubUploadError
from spp.hub.publish import publish_dataset, publish_model


def files_containing(root, secret: str) -> list[str]:
    needle = secret.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_token_appears_in_no_written_file_and_no_log_line(
    tiny_model_dir, tiny_dataset_dir, tmp_path, monkeypatch, caplog, capsys, stub
):
    import torch
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    monkeypatch.setenv("HF_TOKEN", stub.TOKEN)
    caplog.set_level(logging.DEBUG)
    api = stub.RecordingApi()
    publish_model(tiny_model_dir, repo_id="org/spp-t0", api=api, tag="v1")
    publish_model(tiny_model_dir, repo_id="org/spp-t0", to_dir=tmp_path / "export-model")
    publish_dataset(tiny_dataset_dir, to_dir=tmp_path / "export-data")

    # a checkpoint run whose upload fails permanently with a server message that echoes the token
    failing = stub.RecordingApi(failures={1: [stub.http_error(403)]})
    failing.failures[1][0].args = (f"403 Forbidden: bad credentials {stub.TOKEN}",)
    callback = HubCheckpointCallback(repo_id="org/spp-t0", api=failing, push_final=False)
    torch.manual_seed(0)
    ids = [[j % 64 for j in range(8)]] * 4
    args = TrainingArguments(output_dir=str(tmp_path / "out"), max_steps=2, save_steps=2, use_cpu=True,
                             per_device_train_batch_size=2, report_to="none", disable_tqdm=True)  # fmt: skip
    trainer = Trainer(
        model=stub.tiny_llama(), args=args, train_dataset=Dataset.from_dict({"input_ids": ids, "labels": ids}),
        callbacks=[callback],
    )  # fmt: skip
    with pytest.raises(HubUploadError) as caught:
        trainer.train()

    assert "403" in str(caught.value) and stub.TOKEN not in str(caught.value)
    assert files_containing(tmp_path, stub.TOKEN) == []
    assert len(api.uploads) == 1 and api.token_hits == [] and failing.token_hits == []
    out = capsys.readouterr()
    assert stub.TOKEN not in caplog.text + out.out + out.err
    assert "***" in caplog.text  # the echoed token was redacted, not dropped silently
