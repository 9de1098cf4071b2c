"""The ``transformers`` backend: a local model path or Hub id, batched generation with left padding.

For small runs and for checking a generator model before putting it behind a server; at corpus scale use the
``openai`` backend against vLLM/SGLang. The model loads through ``spp.modeling`` (``device``, ``dtype``); generation
is ``spp.modeling.generate_batch``, the path the eval suite uses too. The chat template is used when the tokenizer
has one, else the flattened prompt. A batch that raises (e.g. out of memory) marks its documents ``failed`` with
the error; the job goes on.
"""

from __future__ import annotations

import logging

from spp.generate.base import ReflectionGenerator, ReflectionRequest, ReflectionResult
from spp.modeling import ModelSettings, Sampling, chat_prompt, generate_batch, load_causal_lm, load_tokenizer

logger = logging.getLogger(__name__)


class TransformersGenerator(ReflectionGenerator):
    name = "transformers"

    def __init__(self, config, renderer, validation=None):
        super().__init__(config, renderer, validation)
        settings = ModelSettings.of(config)
        self.tokenizer = load_tokenizer(config.model, settings, "model", left_pad=True)
        self.model = load_causal_lm(config.model, settings, "model")
        self.device = str(self.model.device)
        logger.info("transformers generator: %s on %s", config.model, self.device)

    def _prompt(self, request: ReflectionRequest) -> str:
        return chat_prompt(self.tokenizer, self.prompt_messages(request)) or self.prompt_text(request)

    def _sampling(self) -> Sampling:
        cfg = self.config
        temperature = 1.0 if cfg.temperature is None else cfg.temperature
        top_k = cfg.top_k if cfg.top_k is not None and cfg.top_k > 0 else 0  # empty: no top-k cut
        return Sampling(cfg.max_new_tokens, temperature, cfg.top_p, top_k)  # seeded once per call of _generate

    def _generate_batch(self, batch: list[ReflectionRequest]) -> list[ReflectionResult]:
        outputs = generate_batch(self.model, self.tokenizer, [self._prompt(r) for r in batch], self._sampling())
        return [
            self.judge(request, out.text, attempts=1, tokens_in=out.tokens_in, tokens_out=out.tokens_out)
            for request, out in zip(batch, outputs, strict=True)
        ]

    def _generate(self, requests: list[ReflectionRequest]) -> list[ReflectionResult]:
        import torch

        torch.manual_seed(self.config.generation_seed)
        results: list[ReflectionResult] = []
        size = max(1, self.config.generation_batch_size)
        for start in range(0, len(requests), size):
            batch = requests[start : start + size]
            try:
                results.extend(self._generate_batch(batch))
            except (RuntimeError, ValueError) as err:  # OOM, bad input lengths: record, never drop
                logger.warning("generation failed for a batch of %d documents: %s", len(batch), err)
                results.extend(
                    ReflectionResult(
                        r.doc_id, "failed", r.position, reason=f"{type(err).__name__}: {err}"[:300], attempts=1
                    )
                    for r in batch
                )
        return results

    def close(self) -> None:
        self.model = None
