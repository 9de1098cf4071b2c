"""The one generation path: prompts rendered with the chat template, one left-padded batch, only new text back.

Promises of ``generate_batch``:
- Greedy when ``temperature`` is 0; otherwise sampled with ``temperature``, ``top_p`` and ``top_k``, from
  ``torch.manual_seed(seed)`` when ``seed`` is set. ``top_k=0`` is no top-k cut; ``top_k=None`` is not sent, so the
  model's generation config decides (transformers' default there is 50).
- Padding is on the left, so every prompt ends where generation starts and a prompt's answer does not depend on
  the other prompts of its batch (under greedy decoding).
- Each result holds the decoded new text (special tokens skipped), the prompt's own (unpadded) token count and the
  number of non-pad tokens generated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Sampling:
    """How to pick tokens: greedy at ``temperature`` 0."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None

    def generate_kwargs(self) -> dict[str, Any]:
        if self.temperature <= 0:
            return {"do_sample": False, "max_new_tokens": self.max_new_tokens}
        kwargs = {"do_sample": True, "max_new_tokens": self.max_new_tokens, "temperature": self.temperature}
        kwargs["top_p"] = self.top_p
        if self.top_k is not None:
            kwargs["top_k"] = self.top_k
        return kwargs


@dataclass(frozen=True)
class Generated:
    text: str
    tokens_in: int
    tokens_out: int


def chat_prompt(tokenizer: Any, messages: list[dict[str, str]], prefill: str = "") -> str | None:
    """The text the model continues: ``messages`` through the chat template with the generation prompt, then
    ``prefill`` (the start of the assistant's answer); ``None`` when the tokenizer has no chat template."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + prefill


def generate_batch(
    model: Any, tokenizer: Any, prompts: list[str], sampling: Sampling, *, add_special_tokens: bool = False
) -> list[Generated]:
    """Continue each of ``prompts`` (already rendered: ``chat_prompt``) in one left-padded ``generate`` call.

    ``add_special_tokens``: let the tokenizer add its BOS (raw text); a chat template writes its own."""
    import torch

    if tokenizer.padding_side != "left":
        raise ValueError("generate_batch needs a left-padding tokenizer (load_tokenizer(..., left_pad=True))")
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=add_special_tokens).to(model.device)
    kwargs = sampling.generate_kwargs()
    if kwargs["do_sample"] and sampling.seed is not None:
        torch.manual_seed(sampling.seed)
    with torch.inference_mode():
        output = model.generate(**enc, **kwargs, pad_token_id=tokenizer.pad_token_id)
    new_tokens = output[:, enc["input_ids"].shape[1] :]
    lengths = enc["attention_mask"].sum(dim=1).tolist()
    texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return [
        Generated(text, int(n_in), int((tokens != tokenizer.pad_token_id).sum()))
        for text, n_in, tokens in zip(texts, lengths, new_tokens, strict=True)
    ]
