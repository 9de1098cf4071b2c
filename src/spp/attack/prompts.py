"""What every optimisation attack shares: the prompt around the optimised tokens, batched, and the target loss.

A row is one test case of one behaviour: ``prefix`` (the chat template up to the user's text, then the behaviour
text) + ``n`` optimised tokens + ``suffix`` (the rest of the template: end of the user turn, the generation prompt)
+ ``target`` (HarmBench's target string). Rows of different behaviours have different lengths: a ``Layout`` pads
them on the right (the causal model never attends to padding, and positions before it are unchanged), so several
behaviours share one forward pass. The loss of a row is the mean cross-entropy of its target tokens, as in
HarmBench's optimisers; summing row losses keeps each row's gradient what it would be alone.

The template is the model's own chat template with the user's message only (no system turn), tokenized without
special tokens added, exactly as ``spp eval`` renders a prompt, so the optimised prompt is the prompt evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from spp.attack.behaviors import Behavior
from spp.errors import SppConfigError

PLACEHOLDER = "{instruction}"


@dataclass
class PromptRow:
    behavior_id: str
    index: int  # which test case of the behaviour
    head: list[int]  # the behaviour text's tokens: the test case is head + optimised tokens
    prefix: list[int]  # template start + head
    suffix: list[int]
    target: list[int]


@dataclass
class AttackContext:
    """The model under test and what every method needs from it."""

    model: Any
    tokenizer: Any
    chat: bool
    before: str  # template text before the user's message
    after: str  # template text after it
    allowed: torch.Tensor  # bool (vocab,): tokens an optimised position may hold

    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    @property
    def embeddings(self) -> torch.Tensor:
        return self.model.get_input_embeddings().weight

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    def render(self, test_case: str) -> str:
        """The text ``spp eval`` continues for this test case (it strips the test case, as its loader does)."""
        return self.before + test_case.strip() + self.after

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def split_template(tokenizer: Any, chat: bool) -> tuple[str, str]:
    """The chat template's text before and after a user message (``("", "")`` with ``chat`` off)."""
    if not chat:
        return "", ""
    if not tokenizer.chat_template:
        raise SppConfigError(
            "the model's tokenizer has no chat template",
            field="model",
            fix="attack an instruct model, or pass --chat_template false for a base model",
        )
    messages = [{"role": "user", "content": PLACEHOLDER}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    before, found, after = text.partition(PLACEHOLDER)
    if not found:
        raise SppConfigError("the chat template does not carry the user's message through", field="model")
    return before, after


def allowed_tokens(tokenizer: Any, vocab_rows: int) -> torch.Tensor:
    """Tokens a test case can carry as text: ids the tokenizer has, that decode to whole characters (no partial
    UTF-8 byte, which would come back as U+FFFD and change the prompt), and are not special or control tokens."""
    allowed = torch.zeros(vocab_rows, dtype=torch.bool)
    size = min(len(tokenizer), vocab_rows)
    allowed[:size] = torch.tensor(
        ["\ufffd" not in text for text in tokenizer.batch_decode([[i] for i in range(size)])]
    )
    special = [i for i in tokenizer.all_special_ids if i is not None and i < vocab_rows]
    special += [i for i, tok in tokenizer.added_tokens_decoder.items() if tok.special and i < vocab_rows]
    allowed[special] = False
    return allowed


def build_context(model: Any, tokenizer: Any, chat: bool = True) -> AttackContext:
    before, after = split_template(tokenizer, chat)
    allowed = allowed_tokens(tokenizer, model.get_input_embeddings().weight.shape[0])
    return AttackContext(model, tokenizer, chat, before, after, allowed.to(model.get_input_embeddings().weight.device))


def prompt_rows(context: AttackContext, behaviors: list[Behavior], test_cases: int) -> list[PromptRow]:
    """``test_cases`` rows per behaviour, behaviours in order."""
    start = context.tokenizer("", add_special_tokens=True)["input_ids"] if not context.chat else []
    before, suffix = start + context.encode(context.before), context.encode(context.after)
    rows = []
    for b in behaviors:
        head, target = context.encode(b.prompt_text()), context.encode(b.target)
        rows += [PromptRow(b.id, k, head, before + head, suffix, target) for k in range(test_cases)]
    return rows


class Layout:
    """Rows padded on the right into ``(batch, length)`` tensors, with ``n`` optimised positions per row."""

    def __init__(self, context: AttackContext, rows: list[PromptRow], n: int):
        self.context, self.rows, self.n = context, rows, n
        pad = context.tokenizer.pad_token_id or 0
        lengths = [len(r.prefix) + n + len(r.suffix) + len(r.target) for r in rows]
        width, device = max(lengths), context.device
        self.ids = torch.full((len(rows), width), pad, dtype=torch.long)
        self.mask = torch.zeros((len(rows), width), dtype=torch.long)
        self.labels = torch.full((len(rows), width), -100, dtype=torch.long)
        self.optim_pos = torch.zeros((len(rows), n), dtype=torch.long)
        for i, (row, length) in enumerate(zip(rows, lengths, strict=True)):
            start = len(row.prefix)
            self.ids[i, :start] = torch.tensor(row.prefix, dtype=torch.long)
            self.ids[i, start + n : length] = torch.tensor(row.suffix + row.target, dtype=torch.long)
            self.mask[i, :length] = 1
            self.labels[i, length - len(row.target) : length] = torch.tensor(row.target, dtype=torch.long)
            self.optim_pos[i] = torch.arange(start, start + n)
        self.ids, self.mask, self.labels = self.ids.to(device), self.mask.to(device), self.labels.to(device)
        self.optim_pos = self.optim_pos.to(device)
        self.row_index = torch.arange(len(rows), device=device).unsqueeze(1).expand(-1, n)

    @property
    def tokens(self) -> int:
        """Positions that go through the model in one forward pass (padding excluded)."""
        return int(self.mask.sum())

    def embeds(self, optim_embeds: torch.Tensor) -> torch.Tensor:
        """Input embeddings with ``optim_embeds`` ``(batch, n, dim)`` at the optimised positions (differentiable)."""
        embeds = self.context.model.get_input_embeddings()(self.ids)
        if self.n:
            embeds = embeds.index_put((self.row_index, self.optim_pos), optim_embeds.to(embeds.dtype))
        return embeds

    def with_ids(self, optim_ids: torch.Tensor) -> torch.Tensor:
        ids = self.ids.clone()
        if self.n:
            ids[self.row_index, self.optim_pos] = optim_ids
        return ids

    def loss(self, embeds: torch.Tensor) -> torch.Tensor:
        """Per-row mean cross-entropy of the target tokens, ``(batch,)``."""
        logits = self.context.model(inputs_embeds=embeds, attention_mask=self.mask).logits
        return self._target_loss(logits)

    def loss_of_ids(self, optim_ids: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            logits = self.context.model(input_ids=self.with_ids(optim_ids), attention_mask=self.mask).logits
        return self._target_loss(logits)

    def _target_loss(self, logits: torch.Tensor) -> torch.Tensor:
        labels = self.labels[:, 1:]
        per_token = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().transpose(1, 2), labels, ignore_index=-100, reduction="none"
        )
        return per_token.sum(dim=1) / (labels != -100).sum(dim=1).clamp(min=1)


def text_losses(context: AttackContext, test_cases: list[str], targets: list[str], batch: int = 16) -> list[float]:
    """The target loss of each test case *as text*, rendered and tokenized the way ``spp eval`` sends it."""
    start = context.tokenizer("", add_special_tokens=True)["input_ids"] if not context.chat else []
    rows = [
        PromptRow("", 0, [], start + context.encode(context.render(text)), [], context.encode(target))
        for text, target in zip(test_cases, targets, strict=True)
    ]
    out: list[float] = []
    for i in range(0, len(rows), batch):
        layout = Layout(context, rows[i : i + batch], 0)
        out += layout.loss_of_ids(torch.empty((len(layout.rows), 0), dtype=torch.long)).tolist()
    return out
