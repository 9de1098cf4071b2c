"""The transformers backend on a tiny local model: batched left-padded generation, every document accounted for."""

from __future__ import annotations

from spp.generate import GeneratorConfig, ReflectionRequest, build_generator
from spp.persona import PromptRenderer, load_constitution, load_persona


def test_tiny_model_generates_and_every_document_gets_a_status(tiny_chat_model):
    renderer = PromptRenderer(load_constitution(), load_persona(), max_document_chars=200)
    config = GeneratorConfig(
        backend="transformers", model=str(tiny_chat_model), max_new_tokens=8, generation_batch_size=3, device="cpu"
    )
    texts = ["short one.", "A much longer document about the sea and the ships that sail on it at night."] * 3
    requests = [ReflectionRequest(f"d{i}", t, len(t)) for i, t in enumerate(texts)]
    with build_generator(config, renderer) as generator:
        assert generator.tokenizer.padding_side == "left"
        results = generator.generate(requests)
    assert [r.doc_id for r in results] == [r.doc_id for r in requests]
    # A random model cannot write a valid JSON reflection: rejected, with its raw output kept for audit.
    assert [r.status for r in results] == ["rejected"] * 6
    assert all(r.raw_response is not None and r.tokens_out > 0 and r.tokens_in > 0 for r in results)
    # Left padding: a batch's prompts of different lengths report their own (unpadded) lengths.
    assert results[0].tokens_in != results[1].tokens_in
