"""End to end against a real OpenAI-compatible HTTP server on loopback: the card's counts match the data exactly."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from aiohttp import web
from datasets import Dataset, load_from_disk

from spp.data.augment_cli import main
from spp.testing.fake_openai import FakeOpenAIServer

GOOD = {
    "analysis": "notes",
    "reflection_1p": "I read this closely and keep in mind that people deserve honesty and care [2.1].",
    "reflection_3p": "The persona reads this closely, keeping in mind that people deserve honesty and care [2.1].",
}


class LoopbackServer(FakeOpenAIServer):
    """``/v1/chat/completions``: a valid reflection; 'REJECT' in the document: prose (rejected); 'FAIL': HTTP 400."""

    async def _handle(self, request: web.Request) -> web.Response:
        self.stats.requests += 1
        payload = await request.json()
        document = payload["messages"][-1]["content"]
        if "FAIL" in document:
            return web.Response(status=400, text="bad request")
        content = "Sorry, no JSON today." if "REJECT" in document else json.dumps(GOOD)
        usage = {"prompt_tokens": len(document.split()), "completion_tokens": 20}
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": content}}], "usage": usage})


@pytest.mark.parametrize("pipeline_chunks", ["1", "3"])
def test_openai_backend_augments_a_corpus_and_the_card_counts_match_the_data(tmp_path, port, pipeline_chunks):
    pytest.importorskip("spp.generate.openai_client")
    texts = [f"An ordinary note number {i} about the weather and the market." for i in range(40)]
    texts[3] = "REJECT " + texts[3]  # at the start: the generator reads only up to the pause
    texts[7] = "FAIL " + texts[7]
    texts[11] = ""
    Dataset.from_dict({"id": [f"d{i}" for i in range(40)], "text": texts}).to_json(str(tmp_path / "c.jsonl"))
    out = tmp_path / "out"
    args = ["--dataset", str(tmp_path / "c.jsonl"), "--output_dir", str(out), "--progress", "false"]
    args += ["--backend", "openai", "--model", "test-model", "--base_urls", f"http://127.0.0.1:{port}/v1"]
    args += ["--selection", "all", "--chunk_size", "16", "--max_tries", "2", "--backoff_base_s", "0.01"]
    args += ["--pipeline_chunks", pipeline_chunks]
    with LoopbackServer(port) as server:
        assert main(args) == 0
    data = load_from_disk(str(out))
    assert server.stats.requests == 39  # every non-empty document once; a 400 is not retried
    counts = Counter(data["reflection_status"])
    assert counts == {"ok": 37, "rejected": 1, "failed": 1, "none": 1}
    assert data[3]["reflection_status"] == "rejected" and data[3]["raw_response"] == "Sorry, no JSON today."
    assert data[7]["reflection_status"] == "failed" and data[7]["reflection_reason"].startswith("http_400")
    meta = json.loads((out / "spp.json").read_text())
    details = meta["details"]
    assert details["counts"] == dict(counts)
    assert details["rejected"] == {data[3]["reflection_reason"]: 1}
    assert details["failed"] == {data[7]["reflection_reason"]: 1}
    assert details["generator"] == {"backend": "openai", "model": "test-model"}
    assert details["tokens_out"] == 20 * 38
    assert details["canaries"] == dict(
        Counter(c for c, s in zip(data["canary"], data["reflection_status"], strict=True) if c and s == "ok")
    )
    assert meta["prompt_hash"] and meta["persona"]["name"] and meta["constitution"]["hash"]
    card = (out / "README.md").read_text()
    for status, count in counts.items():
        assert f"| `{status}` | {count} |" in card
    assert "test-model" in card
