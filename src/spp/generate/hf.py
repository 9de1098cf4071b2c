"""The ``transformers`` backend: a local model path or Hub id, batched generation with left padding.

For small runs and for checking a generator model before putting it behind a server; at corpus scale use the
``openai`` backend against vLLM/SGLang. The chat template is used when the tokenizer has one, else the flattened
prompt. A batch that raises (e.g. out of memory) marks its documents ``failed`` with the error; the job goes on.
"""

from __future__ import annotations

import logging

from spp.generate.base import ReflectionGenerator, ReflectionRequest, ReflectionResult

logger = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class TransformersGenerator(ReflectionGenerator):
    name = "transformers"

    def __init__(self, config, renderer, validation=None):
        super().__init__(config, renderer, validation)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = resolve_device(config.device)
        self.tokenizer = AutoTokenizer.from_pretrained(config.model, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(config.model, dtype=dtype).to(self.device).eval()
        logger.info("transformers generator: %s on %s", config.model, self.device)

    def _prompt(self, request: ReflectionRequest) -> str:
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(
                self.prompt_messages(request), tokenize=False, add_generation_prompt=True
            )
        return self.prompt_text(request)

    def _generate_batch(self, batch: list[ReflectionRequest]) -> list[ReflectionResult]:
        import torch

        cfg = self.config
        inputs = self.tokenizer(
            [self._prompt(r) for r in batch], return_tensors="pt", padding=True, add_special_tokens=False
        ).to(self.device)
        temperature = 1.0 if cfg.temperature is None else cfg.temperature
        sampling: dict = {"do_sample": temperature > 0}
        if temperature > 0:
            top_k = cfg.top_k if cfg.top_k is not None and cfg.top_k > 0 else None
            sampling.update(temperature=temperature, top_p=cfg.top_p, top_k=top_k)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs, max_new_tokens=cfg.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id, **sampling
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        prompt_lengths = inputs["attention_mask"].sum(dim=1).tolist()
        results = []
        for request, tokens, n_in in zip(batch, new_tokens, prompt_lengths, strict=True):
            n_out = int((tokens != self.tokenizer.pad_token_id).sum())
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            results.append(self.judge(request, text, attempts=1, tokens_in=int(n_in), tokens_out=n_out))
        return results

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
