"""``spp augment`` with spp's default sampling settings against a real ``transformers serve``: no 4xx, no row lost."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
from datasets import load_from_disk

from spp.cli import main as spp_main
from spp.testing.serve import transformers_serve


@pytest.fixture(scope="module")
def served_model(tmp_path_factory) -> Path:
    """A 2-layer random Llama whose tokenizer is trained on spp's own prompt (so the ~11 KB system prompt is ~2,300
    tokens, not ~6,000), with the KV cache on: one request costs ~1 s on a CPU core instead of ~20 s."""
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from conftest import train_tiny_tokenizer
    from spp.persona import PromptRenderer, load_constitution, load_persona
    from spp.pretrain.specs import build_model

    directory = tmp_path_factory.mktemp("served-model")
    renderer = PromptRenderer(load_constitution(), load_persona())
    tokenizer = train_tiny_tokenizer(renderer.system_prompt().split("\n"), vocab_size=4000)
    model = build_model("tiny", tokenizer, seed=0)
    model.config.use_cache = model.generation_config.use_cache = True
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.mark.slow
def test_augment_against_transformers_serve_with_default_settings(served_model, port, tmp_path):
    rows = [
        {"id": f"d{i}", "text": f"Note {i}: the harbour town wakes early and the boats go out."} for i in range(12)
    ]
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out, log = tmp_path / "out", tmp_path / "serve.log"
    with transformers_serve(served_model, port, log) as url:
        # sampling, concurrency, timeouts and retries are spp's defaults; only the response length is kept short
        rc = spp_main(["augment", "--dataset", str(corpus), "--output_dir", str(out), "--progress", "false",
                       "--backend", "openai", "--model", str(served_model), "--base_urls", url,
                       "--selection_fraction", "0.5", "--max_new_tokens", "16"])  # fmt: skip
    served = log.read_text()
    assert rc == 0, served[-3000:]
    assert " 422" not in served and " 400" not in served and "Unexpected fields" not in served
    data = load_from_disk(str(out))
    counts = Counter(data["reflection_status"])
    assert len(data) == 12 and data["id"] == [r["id"] for r in rows]
    # a random 2-layer model answers every request, but not with a valid reflection: rejected, never failed
    assert counts["failed"] == 0 and counts["rejected"] > 0 and counts["rejected"] + counts["none"] == 12
    assert all(r["raw_response"] is not None for r in data if r["reflection_status"] == "rejected")
    details = json.loads((out / "spp.json").read_text())["details"]
    assert details["counts"] == dict(counts) and details["selected"] == counts["rejected"]
