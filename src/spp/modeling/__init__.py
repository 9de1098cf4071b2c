"""One way to load a Hugging Face model and to generate with it, for every stage that runs one.

- ``ModelSettings``: where and how a model loads (``device``, ``dtype``, ``trust_remote_code``, ``revision``),
  built from a config's own recipe fields (``ModelSettings.of(config, "harm_")`` reads ``harm_device``, ...), so
  errors name the field the user wrote.
- ``load_tokenizer``, ``load_causal_lm``, ``load_classifier``: the model on its device in eval mode; a missing
  folder, a folder that is not a model, a model of the wrong kind (a causal LM given as a classifier) or a device this
  machine lacks is ``SppConfigError`` naming the field and the fix, raised before any weights are read.
- ``chat_prompt`` and ``generate_batch``: the one generation path (chat template, left padding, greedy or sampled,
  only the new text back) of the reflection generator's ``transformers`` backend, the eval suite's ``transformers``
  backend and the Llama Guard judge.

Importing this package does not import torch or transformers.
"""

from spp.modeling.generate import Generated, Sampling, chat_prompt, generate_batch
from spp.modeling.load import (
    DTYPES,
    ModelSettings,
    check_device,
    check_dtype,
    check_model,
    load_causal_lm,
    load_classifier,
    load_tokenizer,
    resolve_device,
    resolve_dtype,
)

__all__ = [
    "DTYPES",
    "Generated",
    "ModelSettings",
    "Sampling",
    "chat_prompt",
    "check_device",
    "check_dtype",
    "check_model",
    "generate_batch",
    "load_causal_lm",
    "load_classifier",
    "load_tokenizer",
    "resolve_device",
    "resolve_dtype",
]
