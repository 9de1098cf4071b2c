"""Model specs: named Llama shapes, built from config with random initialisation (never downloaded).

``smollm2-1.7b`` is the exact SmolLM2-1.7B architecture (its config.json); ``smollm2-360m`` and ``smollm2-135m`` the
smaller SmolLM2 shapes; ``tiny`` a 2-layer model for CPU tests; ``demo`` a 4-layer, ~1M-parameter model that
``spp demo`` trains in minutes on a CPU. Adding a shape is one ``register_model_spec`` call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from spp.errors import SppConfigError


@dataclass(frozen=True)
class ModelSpec:
    """A Llama shape. ``vocab_size=None`` takes the tokenizer's size (the ``tiny`` spec)."""

    name: str
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    vocab_size: int | None = 49152
    tie_word_embeddings: bool = True
    rope_theta: float = 100000.0
    max_position_embeddings: int = 8192
    rms_norm_eps: float = 1e-5
    initializer_range: float = 0.02

    def config_kwargs(self) -> dict:
        kwargs = asdict(self)
        kwargs.pop("name")
        return kwargs

    def num_parameters(self, vocab_size: int | None = None) -> int:
        """Parameter count (tied embeddings counted once), for FLOPs and MFU."""
        vocab = vocab_size or self.vocab_size or 0
        h, f, layers = self.hidden_size, self.intermediate_size, self.num_hidden_layers
        head_dim = h // self.num_attention_heads
        attn = h * h * 2 + 2 * h * self.num_key_value_heads * head_dim
        per_layer = attn + 3 * h * f + 2 * h
        embeddings = vocab * h * (1 if self.tie_word_embeddings else 2)
        return layers * per_layer + embeddings + h


MODEL_SPECS: dict[str, ModelSpec] = {}


def register_model_spec(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry under ``spec.name`` (replacing one of the same name)."""
    MODEL_SPECS[spec.name] = spec
    return spec


register_model_spec(
    ModelSpec(
        "smollm2-1.7b",
        hidden_size=2048,
        num_hidden_layers=24,
        num_attention_heads=32,
        num_key_value_heads=32,
        intermediate_size=8192,
        rope_theta=130000.0,
    )
)
register_model_spec(
    ModelSpec(
        "smollm2-360m",
        hidden_size=960,
        num_hidden_layers=32,
        num_attention_heads=15,
        num_key_value_heads=5,
        intermediate_size=2560,
    )
)
register_model_spec(
    ModelSpec(
        "smollm2-135m",
        hidden_size=576,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        intermediate_size=1536,
    )
)
register_model_spec(
    ModelSpec(
        "tiny",
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        vocab_size=None,
        max_position_embeddings=4096,
    )
)

register_model_spec(
    ModelSpec(
        "demo",
        hidden_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=384,
        vocab_size=None,
        max_position_embeddings=4096,
    )
)


def get_model_spec(name: str) -> ModelSpec:
    """The registered spec called ``name``; an unknown name raises ``SppConfigError`` listing the known ones."""
    if name not in MODEL_SPECS:
        raise SppConfigError(
            f"unknown model spec {name!r}", field="model_spec", fix=f"choose one of {', '.join(sorted(MODEL_SPECS))}"
        )
    return MODEL_SPECS[name]


def build_model(spec: ModelSpec | str, tokenizer, *, seed: int = 0, pad_vocab_to_multiple_of: int = 1, **overrides):
    """A randomly initialised ``LlamaForCausalLM`` of ``spec`` whose embeddings cover every token of ``tokenizer``.

    The spec's vocabulary is kept when the tokenizer fits in it; otherwise (e.g. after adding the reflection markers)
    the embeddings are resized to ``len(tokenizer)`` rounded up to ``pad_vocab_to_multiple_of``. The same ``seed``
    gives bit-identical weights. ``overrides`` go to ``LlamaConfig`` (e.g. ``attn_implementation``).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    spec = get_model_spec(spec) if isinstance(spec, str) else spec
    kwargs = spec.config_kwargs()
    multiple = max(pad_vocab_to_multiple_of, 1)
    if kwargs["vocab_size"] is None:
        kwargs["vocab_size"] = -(-len(tokenizer) // multiple) * multiple
    eos = tokenizer.eos_token_id
    config = LlamaConfig(
        **kwargs,
        bos_token_id=tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
        use_cache=False,
        **overrides,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    if len(tokenizer) > config.vocab_size:
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=multiple, mean_resizing=False)
    return model
