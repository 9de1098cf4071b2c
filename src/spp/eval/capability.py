"""Capability beside safety: lm-evaluation-harness tasks (optional extra) and held-out perplexity (no extra).

``run_harness`` imports ``lm_eval`` only when called and fails with an error naming the extra
(``pip install 'spp[capability]'``) when it is missing. ``heldout_perplexity`` needs only transformers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError

DEFAULT_TASKS = ("mmlu", "arc_challenge", "hellaswag", "piqa", "gsm8k", "ifeval")


def run_harness(model: str, tasks: list[str], limit: int | None = None, batch_size: int = 8) -> dict[str, Any]:
    """``lm_eval.simple_evaluate`` on a transformers model; ``{task: {metric: value}}``."""
    try:
        import lm_eval
    except ImportError as err:
        raise SppConfigError(
            "capability tasks need lm-evaluation-harness",
            field="capability_tasks",
            fix="pip install 'spp[capability]' (or lm-eval), or leave capability_tasks empty",
        ) from err
    out = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={model}", tasks=list(tasks), limit=limit, batch_size=batch_size
    )
    return {
        task: {k: v for k, v in metrics.items() if isinstance(v, int | float)}
        for task, metrics in out["results"].items()
    }


def read_texts(path: str | Path) -> list[str]:
    """Texts from a ``.txt`` file (blank-line separated) or a ``.jsonl`` file with a ``text`` field."""
    path = Path(path)
    if not path.is_file():
        raise SppConfigError("perplexity file not found", source=path, field="perplexity_file")
    if path.suffix == ".jsonl":
        return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [t.strip() for t in path.read_text(encoding="utf-8").split("\n\n") if t.strip()]


def heldout_perplexity(model: Any, tokenizer: Any, texts: list[str], max_length: int = 1024) -> dict[str, float]:
    """Token-weighted perplexity of ``texts`` (each truncated to ``max_length`` tokens)."""
    import torch

    total_nll, total_tokens = 0.0, 0
    device = next(model.parameters()).device
    for text in texts:
        ids = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length)["input_ids"].to(device)
        if ids.shape[1] < 2:
            continue
        with torch.no_grad():
            loss = model(input_ids=ids, labels=ids).loss
        total_nll += float(loss) * (ids.shape[1] - 1)
        total_tokens += ids.shape[1] - 1
    return {"perplexity": math.exp(total_nll / total_tokens) if total_tokens else float("nan"), "tokens": total_tokens}
