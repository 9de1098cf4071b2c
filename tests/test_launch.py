"""A launch that would train something other than what it says stops with exit 2 (``spp.launch.check_launch``): real
2-process launches of ``spp pretrain`` on this CPU machine, and the rule over the cases it reads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from spp.errors import SppConfigError
from spp.launch import check_launch

REPO = Path(__file__).parents[1]


def fake_args(world_size=1, device="cpu", fsdp=None, deepspeed=None):
    return types.SimpleNamespace(world_size=world_size, device=torch.device(device), fsdp=fsdp, deepspeed=deepspeed)


@pytest.mark.parametrize(
    ("env", "args", "field_text"),
    [
        ({"WORLD_SIZE": "2"}, fake_args(world_size=1), "did not form one group"),
        ({"WORLD_SIZE": "4"}, fake_args(world_size=2), "did not form one group"),
        ({"ACCELERATE_USE_FSDP": "true"}, fake_args(), "asks for FSDP"),
        ({}, fake_args(fsdp=True), "asks for FSDP"),
        ({"ACCELERATE_USE_DEEPSPEED": "true"}, fake_args(), "asks for DeepSpeed"),
    ],
)
def test_launches_that_would_train_something_else_are_refused(monkeypatch, env, args, field_text):
    for name in ("WORLD_SIZE", "ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SppConfigError, match=field_text) as err:
        check_launch(args)
    assert err.value.field == "use_cpu"


@pytest.mark.parametrize(
    ("env", "args"),
    [
        ({}, fake_args()),
        ({"WORLD_SIZE": "2"}, fake_args(world_size=2)),
        ({"ACCELERATE_USE_FSDP": "true", "WORLD_SIZE": "8"}, fake_args(world_size=8, device="cuda")),
        ({"ACCELERATE_USE_FSDP": "false"}, fake_args()),
    ],
)
def test_launches_that_do_what_they_say_pass(monkeypatch, env, args):
    for name in ("WORLD_SIZE", "ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    check_launch(args)


def _launch_pretrain(corpus_dir, output_dir, launcher: list[str], *overrides: str):
    accelerate = str(Path(sys.executable).parent / "accelerate")
    command = [accelerate, "launch", *launcher, "--main_process_port", "0", "-m", "spp", "pretrain"]
    command += ["--config", str(REPO / "recipes/pretrain/tiny.yaml"), "--dataset_path", str(corpus_dir)]
    command += ["--tokenizer_name_or_path", str(corpus_dir / "tokenizer"), "--output_dir", str(output_dir)]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    return subprocess.run([*command, *overrides], env=env, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    from spp.demo.corpus import write_demo_corpus

    return write_demo_corpus(tmp_path_factory.mktemp("corpus"), rows=60, seed=3, reflection_rate=0.5)


@pytest.mark.parametrize(
    ("launcher", "overrides", "says"),
    [
        (["--multi_gpu", "--num_processes", "2", "--num_machines", "1"], ["--use_cpu", "false"], "did not form one group"),
        (["--config_file", str(REPO / "recipes/accelerate/fsdp2.yaml"), "--num_processes", "2"], ["--use_cpu", "true"],
         "asks for FSDP"),
    ],
    ids=["processes-without-a-group", "fsdp-on-cpu"],
)  # fmt: skip
@pytest.mark.slow
def test_a_wrong_two_process_launch_refuses_with_exit_2_before_training_and_writes_nothing(
    corpus_dir, tmp_path, launcher, overrides, says
):
    result = _launch_pretrain(corpus_dir, tmp_path / "out", [*launcher, "--mixed_precision", "no"], *overrides)
    assert result.returncode != 0  # the launcher's own code (1) when a process fails
    # each process refuses before training (exit 2, its paragraph); torch's elastic agent stops the other process as
    # soon as the first one fails, so the second may be stopped before it prints or its code is collected (measured:
    # both, or one, of each): at least one refusal, no process that trained, nothing written
    assert 1 <= result.stderr.count(says) <= 2, result.stderr[-3000:]
    assert re.search(r"exitcode\s*:\s*2\b", result.stdout + result.stderr), result.stderr[-3000:]
    assert "Training completed" not in result.stdout + result.stderr and "train_loss" not in result.stdout
    assert not (tmp_path / "out").exists()
