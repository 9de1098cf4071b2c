"""A launch that would train something other than what it says stops with exit 2 (``spp.launch.check_launch``): real
2-process launches of ``spp pretrain`` on this CPU machine, and the rule over the cases it reads. A process that
joined a group ends through ``spp.launch.exit_process`` (the ``spp`` command and ``python -m spp`` do)."""

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
from spp.launch import check_launch, exit_process

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


EXITING_MEMBER = """
import atexit, sys, threading, time
from pathlib import Path
import torch, torch.distributed as dist
from spp.launch import exit_process

out = Path(sys.argv[1])
dist.init_process_group("gloo", init_method=f"file://{out / 'store'}", rank=0, world_size=1)
dist.all_reduce(torch.ones(4))
atexit.register(lambda: (out / "atexit").write_text(f"group initialized: {dist.is_initialized()}"))
threading.Thread(target=lambda: (time.sleep(0.3), (out / "thread").write_text("finished"))).start()
print("trained", end="")  # unflushed: exit_process flushes it
code = exit_process(3)
(out / "after").write_text(f"exit_process returned {code}")
"""


def test_a_process_in_a_group_ends_with_its_code_after_the_group_is_destroyed_and_exit_handlers_ran(tmp_path):
    """What a plain exit would also do (exit handlers, non-daemon threads finish, output flushed) plus the group
    destroyed first, and nothing after: the process ends inside exit_process with the code it was given."""
    result = subprocess.run([sys.executable, "-c", EXITING_MEMBER, str(tmp_path)], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})  # fmt: skip
    assert result.returncode == 3, result.stderr[-3000:]
    assert result.stdout == "trained"
    assert (tmp_path / "atexit").read_text() == "group initialized: False"
    assert (tmp_path / "thread").read_text() == "finished"
    assert not (tmp_path / "after").exists()


def test_a_process_without_a_group_gets_its_code_back_and_goes_on():
    assert not torch.distributed.is_initialized()
    assert exit_process(3) == 3 and exit_process(0) == 0


def test_the_spp_command_and_python_m_spp_end_through_exit_process(monkeypatch):
    from importlib.metadata import entry_points

    import spp.launch
    from spp.cli import console_main

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "spp"]
    assert script.value == "spp.cli:console_main"
    ended: list[int] = []
    monkeypatch.setattr(spp.launch, "exit_process", lambda code: ended.append(code) or code)
    for argv, code in ((["spp", "--version"], 0), (["spp", "no-such-stage"], 2)):
        monkeypatch.setattr(sys, "argv", argv)
        assert console_main() == code
    assert ended == [0, 2]  # every exit code of main goes through exit_process
    assert "raise SystemExit(console_main())" in (REPO / "src/spp/__main__.py").read_text()
    result = subprocess.run([sys.executable, "-m", "spp", "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("spp ")
