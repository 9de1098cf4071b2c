"""Servers down at the start, an outage mid-job, a rerun when they are back: named, counted, regenerated once."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from datasets import load_from_disk

from spp.cli import main as spp_main
from spp.testing.fake_openai import FakeOpenAIServer, free_port

N = 160


def _corpus(path: Path) -> Path:
    rows = [{"id": f"d{i}", "text": f"Note {i}: the market opens at dawn and the boats come in."} for i in range(N)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _args(corpus: Path, out: Path, url: str, *extra: str) -> list[str]:
    return ["augment", "--dataset", str(corpus), "--output_dir", str(out), "--progress", "false",
            "--backend", "openai", "--model", "m", "--base_urls", url, "--selection_fraction", "0.5",
            "--chunk_size", "20", "--retry_budget_s", "0.5", "--backoff_base_s", "0.01", "--backoff_max_s", "0.05",
            *extra]  # fmt: skip


def test_no_server_answering_exits_2_naming_the_url_and_the_os_error(tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}/v1"
    out = tmp_path / "out"
    assert spp_main(_args(_corpus(tmp_path / "c.jsonl"), out, url)) == 2
    err = capsys.readouterr().err
    assert f"no server answers ({url}: " in err and "Connect call failed" in err
    assert not list((out / ".spp-work" / "chunks").glob("chunk-*"))  # nothing was marked failed


def test_outage_mid_job_exits_3_then_a_rerun_regenerates_only_the_failed_rows(tmp_path, capsys):
    corpus, out, port = _corpus(tmp_path / "c.jsonl"), tmp_path / "out", free_port()
    with FakeOpenAIServer(port, fail_after=30) as server:
        args = _args(corpus, out, server.base_url)
        assert spp_main(args) == 3
        err = capsys.readouterr().err
        assert "selected documents failed" in err and f"{server.base_url}: http_503" in err
        assert not (out / "spp.json").exists()  # not merged
        first_successes = Counter(server.stats.successes)
        assert sum(first_successes.values()) == 30
        server.recover()
        requests_before = server.stats.requests
        assert spp_main(args) == 0
        rerun_requests = server.stats.requests - requests_before
    data = load_from_disk(str(out))
    selected = [r for r in data if r["reflection_status"] != "none"]
    assert len(data) == N and {r["reflection_status"] for r in selected} == {"ok"}
    # every selected document was answered exactly once over both runs; the rerun asked only for the failed ones
    assert len(server.stats.successes) == len(selected) and set(server.stats.successes.values()) == {1}
    assert rerun_requests == len(selected) - 30
    details = json.loads((out / "spp.json").read_text())["details"]
    assert details["counts"] == dict(Counter(data["reflection_status"])) and details["failed"] == {}
    assert details["tokens_out"] == 40 * len(selected)


def test_a_few_failures_under_the_threshold_merge_with_exit_0(tmp_path):
    corpus, out, port = _corpus(tmp_path / "c.jsonl"), tmp_path / "out", free_port()
    with FakeOpenAIServer(port, fail_after=68):  # 70 of the 160 are selected: 2 fail, under 5%
        assert spp_main(_args(corpus, out, f"http://127.0.0.1:{port}/v1")) == 0
    data = load_from_disk(str(out))
    counts = Counter(data["reflection_status"])
    assert counts["ok"] == 68 and counts["failed"] == 2
    assert json.loads((out / "spp.json").read_text())["details"]["counts"]["failed"] == 2
