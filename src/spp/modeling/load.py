"""Loading a tokenizer, a causal LM or a sequence classifier with one set of settings and one set of errors.

Promises:
- ``device: auto`` is CUDA when present, else Apple MPS when present, else CPU; ``dtype: auto`` is bfloat16 on a
  CUDA GPU that supports it and float32 everywhere else (CPU, MPS, older GPUs).
- A device this machine lacks (``cuda`` without CUDA, ``cuda:3`` on a 2-GPU machine, ``mps`` off a Mac) is
  ``SppConfigError`` naming the recipe field, raised before anything is read from disk.
- A local model path that is missing, a file, or a folder without ``config.json`` (a dataset, an empty folder) is
  ``SppConfigError`` (``spp.errors.check_model_path``); so is a model whose ``config.json`` names an architecture of
  the wrong kind (a ``...ForCausalLM`` given where a ``...ForSequenceClassification`` is needed, or the reverse):
  loading it would put a randomly initialised head on top and score or generate noise without a word.
- The model comes back on its device, in eval mode.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError, check_model_path, looks_local

logger = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICE_HELP = "'auto' (CUDA when present, else MPS, else CPU), 'cpu', 'cuda', 'cuda:N' or 'mps'"
DTYPE_HELP = "'auto' (bfloat16 on a GPU that supports it, else float32), 'float32', 'bfloat16' or 'float16'"
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")
_CLASSIFIER_SUFFIXES = ("ForSequenceClassification",)


def check_device(value: str, field: str = "device") -> None:
    """Parse-time check of a device's spelling (no torch import): ``SppConfigError`` naming ``field`` otherwise."""
    if not isinstance(value, str) or not _DEVICE.fullmatch(value):
        raise SppConfigError(f"unknown device {value!r}", field=field, fix=f"use {DEVICE_HELP}")


def check_dtype(value: str, field: str = "dtype") -> None:
    """Parse-time check that ``value`` is one of ``DTYPES``."""
    if value not in DTYPES:
        raise SppConfigError(f"unknown dtype {value!r}", field=field, fix=f"use {DTYPE_HELP}")


@dataclass(frozen=True)
class ModelSettings:
    """Where and how a model loads. ``field_prefix`` is the prefix of the recipe fields these came from
    (``harm_`` for ``harm_device``...), so every error names the field the user can change."""

    device: str = field(default="auto", metadata={"help": f"Device: {DEVICE_HELP}."})
    dtype: str = field(default="auto", metadata={"help": f"Weights' dtype: {DTYPE_HELP}."})
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Run the model's own Python code from its folder or Hub repo."}
    )
    revision: str | None = field(default=None, metadata={"help": "Hub branch, tag or commit (empty: main)."})
    field_prefix: str = field(default="", metadata={"help": "Prefix of the recipe fields (for error messages)."})

    def __post_init__(self) -> None:
        check_device(self.device, self.name("device"))
        check_dtype(self.dtype, self.name("dtype"))

    def name(self, setting: str) -> str:
        """The recipe field that holds ``setting`` (``device`` -> ``harm_device``)."""
        return self.field_prefix + setting

    @classmethod
    def of(cls, config: Any, prefix: str = "") -> ModelSettings:
        """The settings in ``config``'s fields ``{prefix}device``, ``{prefix}dtype``, ``{prefix}trust_remote_code``
        and ``{prefix}revision`` (a field the config lacks keeps its default)."""
        values = {
            name: getattr(config, prefix + name)
            for name in ("device", "dtype", "trust_remote_code", "revision")
            if hasattr(config, prefix + name)
        }
        if values.get("revision") == "":
            values["revision"] = None
        return cls(**values, field_prefix=prefix)

    def hub_kwargs(self) -> dict[str, Any]:
        return {"revision": self.revision, "trust_remote_code": self.trust_remote_code}


def resolve_device(device: str, field: str = "device") -> str:
    """``device`` with ``auto`` resolved; a device this machine lacks is ``SppConfigError`` naming ``field``."""
    import torch

    check_device(device, field)
    has_mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else ("mps" if has_mps else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            built = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "built without CUDA"
            raise SppConfigError(
                f"device {device!r} needs a CUDA GPU, and torch sees none here (torch {torch.__version__}, {built})",
                field=field,
                fix=f"set {field}: cpu (or auto: CUDA when present), or run on a machine with a GPU",
            )
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise SppConfigError(
                f"device {device!r} does not exist: torch sees {torch.cuda.device_count()} CUDA GPU(s)",
                field=field,
                fix=f"set {field} to cuda:0 ... cuda:{torch.cuda.device_count() - 1}, or cuda",
            )
    if device == "mps" and not has_mps:
        raise SppConfigError(
            "device 'mps' needs Apple silicon with torch's MPS backend, and it is not available here",
            field=field,
            fix=f"set {field}: cpu or auto",
        )
    return device


def resolve_dtype(dtype: str, device: str, field: str = "dtype") -> Any:
    """The ``torch.dtype`` of ``dtype`` on the resolved ``device`` (``auto``: see the module doc)."""
    import torch

    check_dtype(dtype, field)
    if dtype != "auto":
        return getattr(torch, dtype)
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def _load_error(err: Exception, name: str, settings: ModelSettings, field: str, what: str) -> SppConfigError | None:
    """A loading failure the user can fix, as ``SppConfigError``: a model that needs its own code, or anything
    wrong with a local folder. ``None`` for the rest (a Hub or network failure keeps its type for the CLI)."""
    if "trust_remote_code" in str(err) and not settings.trust_remote_code:
        return SppConfigError(
            f"{name!r} ships its own modelling code, which runs only when allowed",
            field=settings.name("trust_remote_code"),
            fix=f"set {settings.name('trust_remote_code')}: true if you trust that code",
        )
    if looks_local(name):
        return SppConfigError(f"could not load {what} {name!r} ({err})", field=field)
    return None


def load_tokenizer(name: str, settings: ModelSettings, field: str = "model", *, left_pad: bool = False) -> Any:
    """The tokenizer of ``name``; ``left_pad`` (batched generation, last-token scoring) pads on the left and falls
    back to the EOS token when the tokenizer has no pad token."""
    from transformers import AutoTokenizer

    check_model_path(name, field, tokenizer=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, **settings.hub_kwargs())
    except (OSError, ValueError) as err:
        problem = _load_error(err, name, settings, field, "the tokenizer of")
        if problem is None:
            raise
        raise problem from err
    if left_pad:
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def architectures(name: str, settings: ModelSettings, field: str = "model") -> list[str]:
    """The architectures ``name``'s ``config.json`` declares (empty for an adapter folder or a config without)."""
    from transformers import AutoConfig

    if looks_local(name) and not (Path(name) / "config.json").is_file():
        return []  # a PEFT adapter folder: its base model decides
    try:
        return list(AutoConfig.from_pretrained(name, **settings.hub_kwargs()).architectures or [])
    except (OSError, ValueError) as err:
        problem = _load_error(err, name, settings, field, "the config.json of")
        if problem is None:
            raise
        raise problem from err


def _check_kind(name: str, settings: ModelSettings, field: str, kind: str, fix: str) -> None:
    from transformers.models.auto import modeling_auto

    if kind == "causal":
        known, suffixes, what = modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, _CAUSAL_SUFFIXES, "causal LM"
    else:
        known, suffixes = modeling_auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES, _CLASSIFIER_SUFFIXES
        what = "sequence classifier"
    names = {n for value in known.values() for n in ((value,) if isinstance(value, str) else value)}
    found = architectures(name, settings, field)
    if found and not any(a in names or a.endswith(suffixes) for a in found):
        raise SppConfigError(
            f"{name!r} is a {', '.join(found)}, not a {what} (loading it as one would add a randomly initialised "
            "head and give noise)",
            field=field,
            fix=fix,
        )


def _load(auto_class: Any, name: str, settings: ModelSettings, field: str) -> Any:
    device = resolve_device(settings.device, settings.name("device"))
    dtype = resolve_dtype(settings.dtype, device, settings.name("dtype"))
    try:
        # straight onto the device (no full copy in host memory first: a 13B judge would need 26 GB of RAM)
        model = auto_class.from_pretrained(name, dtype=dtype, device_map=device, **settings.hub_kwargs())
    except (OSError, ValueError) as err:
        problem = _load_error(err, name, settings, field, "the model")
        if problem is None:
            raise
        raise problem from err
    model = model.eval()
    logger.info("loaded %s (%s) on %s in %s", name, type(model).__name__, device, str(dtype).removeprefix("torch."))
    return model


def check_model(name: str, settings: ModelSettings, field: str = "model", kind: str = "causal", fix: str = "") -> None:
    """Everything ``load_causal_lm`` (``kind="causal"``) or ``load_classifier`` (``kind="classifier"``) would refuse
    (path, device, architecture), found without reading any weights: a run can check its models before it starts."""
    check_model_path(name, field)
    resolve_device(settings.device, settings.name("device"))
    what = "a causal LM (…ForCausalLM)" if kind == "causal" else "a text classifier (…ForSequenceClassification)"
    _check_kind(name, settings, field, kind, fix or f"give {field} {what}")


def load_causal_lm(name: str, settings: ModelSettings, field: str = "model", fix: str = "") -> Any:
    """``AutoModelForCausalLM`` of ``name`` on ``settings``' device in eval mode (see the module doc for errors)."""
    from transformers import AutoModelForCausalLM

    check_model(name, settings, field, "causal", fix)
    return _load(AutoModelForCausalLM, name, settings, field)


def load_classifier(name: str, settings: ModelSettings, field: str = "model", fix: str = "") -> Any:
    """``AutoModelForSequenceClassification`` of ``name`` on ``settings``' device in eval mode."""
    from transformers import AutoModelForSequenceClassification

    check_model(name, settings, field, "classifier", fix)
    return _load(AutoModelForSequenceClassification, name, settings, field)
