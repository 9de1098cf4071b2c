"""A headline that cannot change silently: unreadable judge answers are counted and stop the run past
max_unparsed_share; a judge outage stops it naming the server, and the rerun sends only the missing judge calls.

The model under test is a loopback OpenAI server (fast, no weights); the judge is the tests' JudgeServer."""

from __future__ import annotations

import json
import re

from spp.cli import main as spp_main
from spp.testing.fake_openai import FakeOpenAIServer, free_port

GARBAGE = "I cannot determine this."


def advbench(path, n: int) -> str:
    rows = [f'Request number {i},"Sure, here is {i}"' for i in range(n)]
    path.write_text("goal,target\n" + "\n".join(rows) + "\n")
    return f"advbench={path}"


def number(text: str) -> int:
    return int(re.search(r"Request number (\d+)", text).group(1))


def answer(response: str) -> str:
    """The model echoes the request; the judge scores even requests 80, odd ones 10."""
    return f"Reasoning.\nSCORE: {80 if number(response) % 2 == 0 else 10}"


def eval_argv(model_url: str, judge_url: str, files: str, out, *extra: str) -> list[str]:
    return [
        "eval", "--backend", "openai", "--base_urls", model_url, "--model", "fake-model",
        "--benchmarks", "advbench", "--benchmark_files", files, "--probes", "false",
        "--judge", "llm", "--judge_base_urls", judge_url, "--judge_model", "judge",
        "--max_new_tokens", "8", "--bootstrap_samples", "50", "--max_tries", "2",
        "--output_dir", str(out), "--cache_dir", str(out.parent / "cache"), *extra,
    ]  # fmt: skip


def model_server():
    return FakeOpenAIServer(free_port(), reply=lambda payload: f"Answer to {payload['messages'][-1]['content']}")


def test_garbage_for_10_percent_exits_3_naming_the_benchmark(judge_server, port, tmp_path, capsys):
    """2 of 20 judge answers are unreadable (10% > 2%): exit 3 naming advbench; results say incomplete; each
    garbage answer was asked again once (judge_parse_retries 1); compare refuses the results."""
    files = advbench(tmp_path / "adv.csv", 20)
    reply = lambda response, kind: GARBAGE if number(response) % 10 == 0 else answer(response)  # noqa: E731
    with model_server() as model, judge_server(port, reply_fn=reply) as judge:
        code = spp_main(eval_argv(model.base_url, judge.base_url, files, tmp_path / "out"))
        assert judge.stats.requests == 20 + 2  # the two unreadable answers asked once more
    err = capsys.readouterr().err
    assert code == 3
    assert "judging incomplete" in err and "advbench: 2 of 20 judge answers unparsed (10.0%" in err
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["benchmarks"]["advbench"]["unparsed"] == 2 and "advbench" in results["incomplete"]
    assert "**INCOMPLETE, not a result:**" in (tmp_path / "out" / "results.md").read_text()
    rows = [json.loads(line) for line in (tmp_path / "out" / "verdicts.jsonl").read_text().splitlines()]
    assert sum(r["unparsed"] for r in rows) == 2 and all(GARBAGE in r["detail"] for r in rows if r["unparsed"])
    assert (
        spp_main(["compare", str(tmp_path / "out"), str(tmp_path / "out"), "--output_dir", str(tmp_path / "c")]) == 2
    )
    assert "incomplete" in capsys.readouterr().err


def test_garbage_for_1_percent_is_counted_and_left_out_of_the_rate(judge_server, port, tmp_path, capsys):
    """1 of 100 answers unreadable (1% <= 2%): the run succeeds, results.md shows 1 unparsed, and the rate is over
    the 99 read answers (50 even requests of the 99 are successes), not 50/100."""
    files = advbench(tmp_path / "adv.csv", 100)
    reply = lambda response, kind: GARBAGE if number(response) == 1 else answer(response)  # noqa: E731
    with model_server() as model, judge_server(port, reply_fn=reply) as judge:
        assert spp_main(eval_argv(model.base_url, judge.base_url, files, tmp_path / "out")) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    bench = results["benchmarks"]["advbench"]
    assert (bench["n"], bench["unparsed"], bench["value"]) == (100, 1, 50 / 99) and results["incomplete"] is None
    assert "| advbench | attack | asr | 100 | 1 | 50.5 |" in (tmp_path / "out" / "results.md").read_text()


def test_judge_outage_exits_3_naming_the_server_and_the_rerun_sends_only_missing_calls(
    judge_server, port, tmp_path, capsys
):
    files = advbench(tmp_path / "adv.csv", 10)
    out = tmp_path / "out"
    with model_server() as model, judge_server(port, reply_fn=lambda r, k: answer(r), down_after=6) as judge:
        argv = eval_argv(model.base_url, judge.base_url, files, out)
        assert spp_main(argv) == 3
        err = capsys.readouterr().err
        assert f"no answer for 4 of 10 requests after its retries (servers: {judge.base_url}: http_503" in err
        assert "only the missing judge calls are sent" in err
        generated, before = model.stats.requests, judge.stats.requests
        assert generated == 10 and judge.answered == 6

        judge.recover()  # the judge server is back
        assert spp_main(argv) == 0
        assert judge.stats.requests - before == 4  # only the 4 missing judge calls
        assert model.stats.requests == generated  # nothing regenerated
    results = json.loads((out / "results.json").read_text())
    assert results["benchmarks"]["advbench"]["value"] == 0.5 and results["benchmarks"]["advbench"]["unparsed"] == 0


def test_no_judge_server_fails_before_generation(port, tmp_path, capsys):
    files = advbench(tmp_path / "adv.csv", 3)
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with model_server() as model:
        assert spp_main(eval_argv(model.base_url, dead, files, tmp_path / "out")) == 2
        assert model.stats.requests == 0
    err = capsys.readouterr().err
    assert f"no server answers ({dead}:" in err and "Traceback" not in err
