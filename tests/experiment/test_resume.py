"""Killing ``spp experiment`` (recipes/experiments/tiny.yaml) mid-pretraining: the rerun resumes from the last
checkpoint and redoes no finished stage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).parents[2]
TINY = REPO / "recipes" / "experiments" / "tiny.yaml"


def _command(out: Path) -> list[str]:
    code = "import sys; from spp.experiment.cli import experiment_main; sys.exit(experiment_main(sys.argv[1:]))"
    return [sys.executable, "-c", code, "--config", str(TINY), "--output_dir", str(out),
            "--arms", "spp_t0", "--until", "pretrain"]  # fmt: skip


def _wait_for_checkpoint(process: subprocess.Popen, model: Path, timeout: float = 150) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in model.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
        if done:
            return done[0]
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.2)
    raise AssertionError("no checkpoint appeared")


def test_kill_mid_pretraining_then_resume(tmp_path):
    out, model = tmp_path / "exp", tmp_path / "exp" / "models" / "spp_t0"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(_command(out), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)  # fmt: skip
    checkpoint = _wait_for_checkpoint(first, model)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert not (model / "model.safetensors").exists(), "killed too late: pretraining had finished"
    state = json.loads((out / "experiment_state.json").read_text())["steps"]
    assert state["augment"]["status"] == "done" and state["pretrain-spp_t0"]["status"] == "running"
    corpus_stamp = (out / "data" / "augmented" / "spp.json").stat().st_mtime_ns
    tokenizer_stamp = (out / "data" / "tokenizer" / "tokenizer.json").stat().st_mtime_ns

    second = subprocess.run(_command(out), cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    for step in ("augment", "publish-dataset", "tokenizer", "toy_data"):
        assert f"{step}: up to date" in second.stdout
    resumed = [line for line in second.stdout.splitlines() if "resuming from" in line]
    assert len(resumed) == 1 and "checkpoint-" in resumed[0]
    assert int(resumed[0].rsplit("-", 1)[1]) >= int(checkpoint.name.split("-")[1])
    assert (out / "data" / "augmented" / "spp.json").stat().st_mtime_ns == corpus_stamp
    assert (out / "data" / "tokenizer" / "tokenizer.json").stat().st_mtime_ns == tokenizer_stamp
    trainer_state = json.loads((model / "checkpoint-120" / "trainer_state.json").read_text())
    assert trainer_state["global_step"] == 120 and (model / "model.safetensors").is_file()
    state = json.loads((out / "experiment_state.json").read_text())["steps"]
    assert state["pretrain-spp_t0"]["status"] == "done" and "sft-spp_t0" not in state
    branches = sorted(p.name for p in (out / "hub" / "models" / "spp-tiny-spp_t0").glob("step-*"))
    assert branches[-1] == "step-0000120" and "main" in os.listdir(out / "hub" / "models" / "spp-tiny-spp_t0")
