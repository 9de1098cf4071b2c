"""Generation for the eval suite: requests, an on-disk cache, and two backends (transformers, OpenAI-compatible).

Promises:
- ``generate_cached`` calls the backend only for requests whose key is not in the cache; every answer is appended
  to the cache (one JSONL line, flushed) as soon as its batch finishes, so an interrupted run resumes where it
  stopped and re-judging never regenerates.
- A cache key is ``(model, benchmark, prompt_hash)``; ``prompt_hash`` covers the messages, the prefill, whether the
  chat template is applied, and the generation settings (so changing ``max_new_tokens`` regenerates).
- The transformers backend generates through ``spp.modeling.generate_batch`` (the reflection generator's path too):
  left padding, only new tokens decoded, greedy unless ``temperature`` > 0 (then ``top_p``, and the model's
  generation config's ``top_k``: transformers' default 50 unless the model sets another).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from spp.errors import SppConfigError


@dataclass(frozen=True)
class GenSettings:
    max_new_tokens: int = 300
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class GenRequest:
    """What to send: chat ``messages`` (system/user), an assistant ``prefill``, or raw text when ``chat`` is off."""

    messages: tuple[tuple[str, str], ...]
    prefill: str = ""
    chat: bool = True
    settings: GenSettings = field(default_factory=GenSettings)

    def as_messages(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]

    def raw_text(self) -> str:
        return "\n\n".join(content for _, content in self.messages) + self.prefill

    def prompt_hash(self) -> str:
        payload = {
            "messages": self.messages,
            "prefill": self.prefill,
            "chat": self.chat,
            "settings": vars(self.settings),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:24]


class Backend(Protocol):
    name: str
    generation_calls: int

    def generate(self, requests: list[GenRequest]) -> list[str]: ...


class GenerationCache:
    """Generations in ``path`` (JSONL), keyed by ``(model, benchmark, prompt_hash)``; ``identity`` (the pinned
    model's sha and its chat template's, ``spp.eval.subject``) is appended to every model name, so other weights or
    another template never reuse an answer."""

    def __init__(self, path: str | Path, identity: str = ""):
        self.path = Path(path)
        self.identity = identity
        self.entries: dict[tuple[str, str, str], str] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a line cut by an interrupted write: that prompt is regenerated
                    continue
                self.entries[(row["model"], row["benchmark"], row["prompt_hash"])] = row["response"]

    def _ends_mid_line(self) -> bool:
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return False
        with self.path.open("rb") as handle:
            handle.seek(-1, 2)
            return handle.read(1) != b"\n"

    def get(self, model: str, benchmark: str, prompt_hash: str) -> str | None:
        return self.entries.get((model + self.identity, benchmark, prompt_hash))

    def put_many(self, rows: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            if self._ends_mid_line():
                handle.write("\n")  # close a line cut by an interrupted write before appending
            for row in rows:
                row = {**row, "model": row["model"] + self.identity}
                self.entries[(row["model"], row["benchmark"], row["prompt_hash"])] = row["response"]
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            handle.flush()


def generate_cached(
    backend: Backend,
    cache: GenerationCache,
    model: str,
    benchmark: str,
    requests: list[GenRequest],
    ids: list[str],
    chunk_size: int = 64,
) -> list[str]:
    """One response per request, in order: cached ones read back, the rest generated in chunks and cached (a
    progress bar counts responses, the cached ones done from the start, with an ETA)."""
    from tqdm.auto import tqdm

    hashes = [r.prompt_hash() for r in requests]
    missing = [i for i, h in enumerate(hashes) if cache.get(model, benchmark, h) is None]
    missing = list(dict.fromkeys(missing))
    done = len(requests) - len(missing)
    with tqdm(total=len(requests), initial=done, desc=f"{benchmark}: generate", unit="response",
              disable=not missing) as bar:  # fmt: skip
        for start in range(0, len(missing), chunk_size):
            chunk = missing[start : start + chunk_size]
            responses = backend.generate([requests[i] for i in chunk])
            cache.put_many(
                [
                    {"model": model, "benchmark": benchmark, "prompt_hash": hashes[i], "id": ids[i], "response": text}
                    for i, text in zip(chunk, responses, strict=True)
                ]
            )
            bar.update(len(chunk))
    return [cache.get(model, benchmark, h) or "" for h in hashes]


class TransformersBackend:
    """Batched generation on a local or Hub model through ``spp.modeling`` (left padding; greedy when temperature is
    0); prompts are sorted by length so a batch wastes little on padding. Errors name the fields ``model``,
    ``device``, ``dtype`` (``EvalConfig``'s)."""

    name = "transformers"

    def __init__(
        self,
        model: str,
        batch_size: int = 8,
        dtype: str = "auto",
        device: str = "auto",
        trust_remote_code: bool = False,
        revision: str | None = None,
    ):
        from spp.modeling import ModelSettings, load_causal_lm, load_tokenizer

        settings = ModelSettings(device, dtype, trust_remote_code, revision)
        self.tokenizer = load_tokenizer(model, settings, "model", left_pad=True)
        self.model = load_causal_lm(model, settings, "model")
        self.device = str(self.model.device)
        self.batch_size = batch_size
        self.generation_calls = 0

    def render(self, request: GenRequest) -> str:
        """The exact text the model continues (chat template + generation prompt + prefill, or the raw text)."""
        from spp.modeling import chat_prompt

        if not request.chat:
            return request.raw_text()
        text = chat_prompt(self.tokenizer, request.as_messages(), request.prefill)
        if text is None:
            raise SppConfigError(
                "the model's tokenizer has no chat template",
                field="model",
                fix="use an instruct model, or set chat_template: false for a base model",
            )
        return text

    def generate(self, requests: list[GenRequest]) -> list[str]:
        from spp.modeling import Sampling, generate_batch

        self.generation_calls += 1
        texts = [self.render(r) for r in requests]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[str] = [""] * len(texts)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            s = requests[batch[0]].settings
            sampling = Sampling(s.max_new_tokens, s.temperature, s.top_p, seed=s.seed)
            generated = generate_batch(
                self.model,
                self.tokenizer,
                [texts[i] for i in batch],
                sampling,
                add_special_tokens=not requests[batch[0]].chat,
            )
            for i, result in zip(batch, generated, strict=True):
                out[i] = result.text
        return out


class OpenAIBackend:
    """Any OpenAI-compatible server (vLLM, SGLang, ``transformers serve``), through ``spp.generate.server_pool``.

    Chat requests go to ``/chat/completions``; a prefill is sent as a final assistant message with vLLM's
    ``continue_final_message``. Raw (no chat template) requests go to ``/completions``. A request that still
    fails after the retries raises, naming the error: a silent empty response would count as a refusal.
    """

    name = "openai"

    def __init__(self, model: str, server: Any):
        from spp.generate.server_pool import ServerPool

        self.model = model
        self.pool = ServerPool(server)
        self.generation_calls = 0

    def _payload(self, request: GenRequest) -> tuple[str, dict[str, Any]]:
        s = request.settings
        common = {
            "model": self.model,
            "max_tokens": s.max_new_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "seed": s.seed,
        }
        if not request.chat:
            return "/completions", {**common, "prompt": request.raw_text()}
        messages = request.as_messages()
        if request.prefill:
            messages.append({"role": "assistant", "content": request.prefill})
            common.update(continue_final_message=True, add_generation_prompt=False)
        return "/chat/completions", {**common, "messages": messages}

    def generate(self, requests: list[GenRequest]) -> list[str]:
        self.generation_calls += 1
        by_path: dict[str, list[int]] = {}
        payloads = [self._payload(r) for r in requests]
        for i, (path, _) in enumerate(payloads):
            by_path.setdefault(path, []).append(i)
        out: list[str] = [""] * len(requests)
        for path, indices in by_path.items():
            answers = self.pool.post_all(path, [payloads[i][1] for i in indices])
            for i, answer in zip(indices, answers, strict=True):
                if isinstance(answer, Exception):
                    raise RuntimeError(f"generation failed after retries: {answer}")
                choice = answer["choices"][0]
                out[i] = (choice.get("message") or {}).get("content") if "message" in choice else choice.get("text")
                out[i] = out[i] or ""
        return out
