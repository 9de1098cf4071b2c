"""One process per job folder; --overwrite deletes only spp's jobs; a foreign folder is never written into."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spp.cli import main as spp_main
from spp.data.augment_cli import main
from spp.errors import SppConfigError

SLOW_JOB = """
import sys, time
from spp.generate import register_generator
from spp.generate.offline import OfflineGenerator

class SlowOffline(OfflineGenerator):
    def _generate(self, requests):
        time.sleep(0.05 * len(requests))
        return super()._generate(requests)

register_generator("slow-offline", SlowOffline)
from spp.data.augment_cli import main
sys.exit(main(sys.argv[1:]))
"""


def _corpus(path: Path, n: int = 200) -> Path:
    path.write_text(
        "".join(json.dumps({"id": f"d{i}", "text": f"Note {i} about the river."}) + "\n" for i in range(n))
    )
    return path


def _args(corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["--dataset", str(corpus), "--output_dir", str(out), "--progress", "false", "--chunk_size", "20", *extra]


def test_a_second_process_on_a_running_job_exits_2_naming_the_holders_pid(tmp_path, capsys, monkeypatch):
    from spp.generate.base import GENERATORS
    from spp.generate.offline import OfflineGenerator

    monkeypatch.setitem(GENERATORS, "slow-offline", OfflineGenerator)  # the same recipe in this process
    script = tmp_path / "slow.py"
    script.write_text(SLOW_JOB)
    corpus, out = _corpus(tmp_path / "c.jsonl"), tmp_path / "out"
    args = _args(corpus, out, "--selection_fraction", "1.0", "--backend", "slow-offline")
    proc = subprocess.Popen([sys.executable, str(script), *args])
    try:
        lock = out / ".spp-work" / "locks" / "job.lock"
        deadline = time.monotonic() + 60
        while not (lock.is_file() and lock.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None
        assert spp_main(["augment", *args]) == 2
        assert f"another process is working on this job: pid {proc.pid}" in capsys.readouterr().err
        assert spp_main(["augment", *args, "--overwrite", "true"]) == 2  # nor may --overwrite pull it from under it
        assert spp_main(["augment", *args, "--merge", "true"]) == 2
    finally:
        proc.kill()
        proc.wait()
    # the lock died with the process (kill -9): the job resumes at once (in a process that knows the backend)
    assert subprocess.run([sys.executable, str(script), *args]).returncode == 0


def test_shards_of_an_array_run_together_but_not_twice(tmp_path):
    from spp.data.augment_cli import parse
    from spp.data.job import AugmentJob

    corpus, out = _corpus(tmp_path / "c.jsonl"), tmp_path / "out"
    with AugmentJob(parse(_args(corpus, out, "--num_shards", "2", "--shard_index", "0"))):
        with AugmentJob(parse(_args(corpus, out, "--num_shards", "2", "--shard_index", "1"))):
            pass
        with pytest.raises(SppConfigError, match=r"pid \d+ on .*\(shard 0 of 2\)"):
            AugmentJob(parse(_args(corpus, out, "--num_shards", "2", "--shard_index", "0")))
        with pytest.raises(SppConfigError, match="another process"):
            AugmentJob(parse(_args(corpus, out)))  # a single-process run of the same folder


@pytest.mark.parametrize("overwrite", ["false", "true"])
def test_a_foreign_non_empty_folder_is_refused_and_nothing_deleted(tmp_path, overwrite, capsys):
    corpus, out = _corpus(tmp_path / "c.jsonl"), tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    (out / "README.md").write_text("my readme")
    assert spp_main(["augment", *_args(corpus, out, "--overwrite", overwrite)]) == 2
    assert "spp did not write it" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "notes.txt"]
    assert (out / "README.md").read_text() == "my readme"


def test_overwrite_replaces_an_spp_job_and_an_empty_folder_is_used(tmp_path):
    corpus, out = _corpus(tmp_path / "c.jsonl"), tmp_path / "out"
    out.mkdir()
    assert main(_args(corpus, out, "--selection_fraction", "0.2")) == 0
    with pytest.raises(SppConfigError, match="spp augment output of another run"):
        main(_args(corpus, out, "--selection_fraction", "0.5"))
    assert main(_args(corpus, out, "--selection_fraction", "0.5", "--overwrite", "true")) == 0
    details = json.loads((out / "spp.json").read_text())["details"]
    assert details["selection"]["fraction"] == 0.5
    assert details["selected"] == sum(details["counts"].get(s, 0) for s in ("ok", "rejected", "failed"))


def test_overwrite_is_refused_for_a_shard_of_an_array(tmp_path):
    with pytest.raises(SppConfigError, match="every shard delete the others' work"):
        main(_args(_corpus(tmp_path / "c.jsonl"), tmp_path / "o", "--overwrite", "true", "--num_shards", "4"))
