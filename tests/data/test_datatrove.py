"""The datatrove backend: same rows, order and card counts as spp's own job; resumable after kill -9; Slurm script."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from datasets import load_from_disk

pytest.importorskip("datatrove")

from spp.data.augment_cli import main, parse  # noqa: E402

BASE = ["--max_documents", "240", "--chunk_size", "20", "--progress", "false", "--selection_fraction", "0.3"]
SLOW_JOB = """
import sys, time
from spp.generate import register_generator
from spp.generate.offline import OfflineGenerator

class SlowOffline(OfflineGenerator):
    def _generate(self, requests):
        time.sleep(0.01 * len(requests))
        return super()._generate(requests)

register_generator("slow-offline", SlowOffline)
from spp.data.augment_cli import main
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
"""


def _result(out: Path) -> tuple[list[dict], dict, str]:
    details = json.loads((out / "spp.json").read_text())["details"]
    card = (out / "README.md").read_text()
    table = [line for line in card.splitlines() if line.startswith("| `")]
    return load_from_disk(str(out)).to_list(), details, "\n".join(table)


@pytest.fixture(scope="module")
def own_job(tmp_path_factory) -> tuple[list[dict], dict, str]:
    out = tmp_path_factory.mktemp("own") / "out"
    assert main([*BASE, "--output_dir", str(out)]) == 0
    return _result(out)


@pytest.mark.slow
def test_local_executor_with_two_tasks_equals_spps_own_job(tmp_path, own_job):
    out = tmp_path / "out"
    assert main([*BASE, "--output_dir", str(out), "--executor", "local", "--tasks", "2"]) == 0
    rows, details, card_counts = _result(out)
    assert rows == own_job[0]  # same rows, same order
    assert details == own_job[1] and card_counts == own_job[2]
    shards = out / ".spp-work" / "datatrove" / "shards-2"
    assert sorted(p.name for p in (shards / "completions").iterdir()) == ["00000", "00001"]
    assert sorted(p.name for p in (shards / "logs").iterdir()) == ["task_00000.log", "task_00001.log"]


@pytest.mark.slow
def test_kill_9_of_a_task_then_rerun_gives_the_same_result(tmp_path, own_job):
    script = tmp_path / "slow.py"
    script.write_text(SLOW_JOB)
    out = tmp_path / "out"
    cmd = [sys.executable, str(script), *BASE, "--output_dir", str(out), "--backend", "slow-offline",
           "--executor", "local", "--tasks", "2", "--workers", "1"]  # fmt: skip
    chunks = out / ".spp-work" / "chunks"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while len(list(chunks.glob("chunk-*.parquet"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the job finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "spp.json").exists()
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    rows, details, card_counts = _result(out)
    assert rows == own_job[0] and card_counts == own_job[2]
    assert {k: v for k, v in details.items() if k != "generator"} == {
        k: v for k, v in own_job[1].items() if k != "generator"
    }


@pytest.mark.slow
def test_slurm_executor_writes_an_array_and_a_dependent_finalize_that_run_as_slurm_would(
    tmp_path, own_job, monkeypatch
):
    """No Slurm here: sbatch is replaced by a recorder; then each array task runs its script's command as Slurm
    would (``SLURM_ARRAY_TASK_ID``), and the finalize after them."""
    from datatrove.executor import slurm

    from spp.data.datatrove_backend import build_executors

    submitted: list[tuple[str, tuple]] = []

    def sbatch(contents, job_id_retriever, *args):
        submitted.append((contents, args))
        return str(100 + len(submitted))

    monkeypatch.setattr(slurm, "launch_slurm_job", sbatch)
    out = tmp_path / "out"
    configs = parse([*BASE, "--output_dir", str(out), "--executor", "slurm", "--tasks", "3",
                     "--slurm_partition", "cpu", "--slurm_time", "02:00:00", "--slurm_sbatch_args", "account=spp"])  # fmt: skip
    _, finalize = build_executors(configs)
    finalize.run()
    scripts = [contents for contents, _ in submitted]
    shards, finalize_script = scripts[0], scripts[2]  # [1] is datatrove's merge_stats job
    for line in ("#SBATCH --array=0-2", "#SBATCH --partition=cpu", "#SBATCH --time=02:00:00", "#SBATCH --account=spp",
                 "#SBATCH --job-name=spp-augment", "#SBATCH --requeue"):  # fmt: skip
        assert line in shards.splitlines(), shards
    assert "#SBATCH --job-name=spp-augment-finalize" in finalize_script and "#SBATCH --array=0-0" in finalize_script
    assert "--dependency=afterok:101" in submitted[2][1]
    commands = [line.split()[-1] for line in (shards, finalize_script) for line in line.splitlines()
                if "launch_pickled_pipeline" in line]  # fmt: skip
    assert commands == [str(out / ".spp-work/datatrove/shards-3/executor.pik"),
                        str(out / ".spp-work/datatrove/finalize-3/executor.pik")]  # fmt: skip
    launcher = str(Path(sys.executable).parent / "launch_pickled_pipeline")
    fake_bin = tmp_path / "bin"  # datatrove asks `scontrol show hostnames` for the task's nodes
    fake_bin.mkdir()
    (fake_bin / "scontrol").write_text("#!/bin/sh\necho localhost\n")
    (fake_bin / "scontrol").chmod(0o755)
    env = {**os.environ, "SLURM_NODELIST": "localhost", "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    for task in range(3):
        subprocess.run([launcher, commands[0]], env={**env, "SLURM_ARRAY_TASK_ID": str(task)}, check=True)
    subprocess.run([launcher, commands[1]], env={**env, "SLURM_ARRAY_TASK_ID": "0"}, check=True)
    rows, details, card_counts = _result(out)
    assert rows == own_job[0] and details == own_job[1] and card_counts == own_job[2]


def test_finalize_refuses_while_a_task_has_not_completed(tmp_path):
    from spp.data.datatrove_backend import SppFinalizeStep, logging_dirs
    from spp.errors import SppConfigError

    configs = parse([*BASE, "--output_dir", str(tmp_path / "out"), "--executor", "local", "--tasks", "2"])
    shard_dir, _ = logging_dirs(configs)
    (Path(shard_dir) / "completions").mkdir(parents=True)
    (Path(shard_dir) / "completions" / "00000").touch()
    with pytest.raises(SppConfigError, match=r"1 of 2 tasks have not completed \(first: task 1\)"):
        list(SppFinalizeStep(configs, 2, shard_dir).run())


@pytest.mark.slow
def test_ray_executor_on_a_local_ray_instance(tmp_path, own_job):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "out"
        args = ["--executor", "ray", "--tasks", "2", "--cpus_per_task", "1", "--mem_per_cpu_gb", "1"]
        assert main([*BASE, "--output_dir", str(out), *args]) == 0
    finally:
        ray.shutdown()
    rows, details, card_counts = _result(out)
    assert rows == own_job[0] and details == own_job[1] and card_counts == own_job[2]


def test_score_harm_on_the_local_executor_equals_the_single_process_run(tmp_path):
    from spp.data.score_cli import main as score

    base = ["--dataset", "builtin:stdlib-docs", "--max_documents", "200"]
    assert score([*base, "--output_dir", str(tmp_path / "one")]) == 0
    assert score([*base, "--output_dir", str(tmp_path / "dt"), "--executor", "local", "--tasks", "2"]) == 0
    assert load_from_disk(str(tmp_path / "dt")).to_list() == load_from_disk(str(tmp_path / "one")).to_list()
    one, dt = (json.loads((tmp_path / d / "spp.json").read_text())["details"] for d in ("one", "dt"))
    assert one == dt and one["rows"] == 200


KILLER_JOB = """
import os, signal, sys
from spp.generate import register_generator
from spp.generate.offline import OfflineGenerator

class KilledOnce(OfflineGenerator):
    '''Offline, except that the first task to generate while the flag file exists is killed with SIGKILL.'''

    def _generate(self, requests):
        try:
            os.remove(os.environ["SPP_TEST_KILL_FLAG"])  # one task wins the flag
        except FileNotFoundError:
            return super()._generate(requests)
        os.kill(os.getpid(), signal.SIGKILL)

register_generator("killed-once", KilledOnce)
from spp.data.augment_cli import main
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
"""


def test_a_task_killed_with_sigkill_ends_the_job_naming_it_and_the_rerun_command(tmp_path):
    """datatrove's own pool would wait for the killed task forever; the run exits 3 within the timeout instead,
    naming the task, its log and the command, and that command finishes the job."""
    script, flag, out = tmp_path / "killer.py", tmp_path / "kill.flag", tmp_path / "out"
    script.write_text(KILLER_JOB)
    flag.touch()
    small = ["--max_documents", "60", "--chunk_size", "10", "--progress", "false", "--selection_fraction", "0.5"]
    cmd = [sys.executable, str(script), *small, "--output_dir", str(out), "--backend", "killed-once",
           "--executor", "local", "--tasks", "2", "--workers", "2"]  # fmt: skip
    env = {**os.environ, "SPP_TEST_KILL_FLAG": str(flag)}
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert first.returncode == 3, first.stderr[-3000:]
    assert not flag.exists(), "no task was killed"
    assert "was killed by SIGKILL" in first.stderr and "Traceback" not in first.stderr
    killed = re.search(r"task (\d) of 2 was killed by SIGKILL \(log: (\S+)\)", first.stderr)
    assert killed and Path(killed.group(2)).is_file(), first.stderr[-3000:]
    rerun = next(line for line in first.stderr.splitlines() if line.startswith("rerun: "))
    assert rerun.startswith("rerun: spp augment ") and "--executor local" in rerun
    assert not (out / "spp.json").exists()  # nothing merged
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert len(load_from_disk(str(out))) == 60


def test_ray_executor_without_ray_exits_2_naming_the_extra_before_anything_is_written(tmp_path, monkeypatch, capsys):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a))
    from spp.cli import main as spp_main

    out = tmp_path / "out"
    assert spp_main(["augment", *BASE, "--output_dir", str(out), "--executor", "ray", "--tasks", "2"]) == 2
    err = capsys.readouterr().err
    assert "field 'executor'" in err and "pip install 'spp[ray]'" in err
    assert not out.exists()
