"""The model under test, as ``spp eval`` records it: pinned revision, spp's or external, its label, its chat template.

Promises (``open_subject``, called before the model's weights load and before anything is written):
- The model is pinned (``spp.modeling.source.open_model``): an unknown revision stops with the refs that exist, and
  the results record the resolved sha, so a rerun reads the same weights or says why not.
- A model without ``spp.json`` is *external*: its label is the recipe's ``label``, else the arm a release registry
  lists it under (``spp.releases``), else none; it is never given an arm, a system turn or a chat template it was not
  given. Its chat template is its own (``chat_template: model``, or the registry's named one), a named one, or a file
  (``spp.modeling.chat_template``); a model with no usable template stops when a benchmark needs one.
- A served model (``backend: openai``) renders prompts with the server's template: only ``chat_template: model`` is
  accepted there, and the results say the template was the server's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.eval.config import EvalConfig
from spp.metadata import SppMetadata

logger = logging.getLogger("spp.eval")


@dataclass
class Subject:
    """What ``spp eval`` evaluates (see the module docstring)."""

    source: Any  # spp.modeling.source.ModelSource, or None for a served model
    meta: SppMetadata | None
    arm: str | None
    arm_source: str | None
    release: Any  # spp.releases.Release or None
    template: Any  # spp.modeling.chat_template.ChatTemplate or None
    tokenizer: Any  # the tokenizer with the template set, or None (a server renders)

    @property
    def metadata(self) -> str:
        if self.source is None:
            return "spp" if self.meta is not None else "served"
        return "spp" if self.meta is not None else "external"

    def apply(self, backend: Any) -> None:
        """Give the backend's tokenizer the resolved template (the text every prompt is rendered with)."""
        from spp.modeling.chat_template import use_chat_template

        tokenizer = getattr(backend, "tokenizer", None)
        if self.template is not None and tokenizer is not None:
            use_chat_template(tokenizer, self.template)

    def cache_identity(self) -> str:
        """What keys the generation cache beside the model's name: the pinned files and the template."""
        parts = [
            self.source.sha[:23] if self.source is not None else "",
            self.template.sha256[:12] if self.template else "",
        ]
        return "".join(f"#{part}" for part in parts if part)

    def record(self) -> dict[str, Any]:
        """The keys ``results.json`` gets about the model."""
        template = self.template.record() if self.template is not None else None
        if self.source is None and self.tokenizer is None:
            template = {"name": None, "source": "rendered by the backend (a server: its own template)", "sha256": None}
        return {
            "metadata": self.metadata,
            "model_source": self.source.record() if self.source is not None else None,
            "model_sha": self.source.sha if self.source is not None else None,
            "arm": self.arm,
            "arm_source": self.arm_source,
            "release": self.release.describe() if self.release is not None else None,
            "chat_template": template,
        }


def _needs_chat(config: EvalConfig, meta: SppMetadata | None) -> bool:
    """Whether a prompt goes through the chat template: a chat benchmark, or the persona probes."""
    from spp.eval.benchmarks import get_benchmark

    probes = config.probes and bool((meta is not None and meta.persona) or config.persona)
    return probes or any(get_benchmark(name).chat_template for name in config.benchmarks)


def _open(config: EvalConfig, backend: Any, api: Any):
    """The pinned model, or ``None`` for a served model or a caller's backend whose model is not a local path."""
    from spp.errors import looks_local
    from spp.modeling.source import open_model

    if not config.model:
        return None
    local = looks_local(config.model) or Path(config.model).exists()
    if (config.backend == "transformers" and backend is None) or local:
        return open_model(config.model, config.revision or None, api=api)
    return None


def _label(config: EvalConfig, source: Any, meta: SppMetadata | None) -> tuple[str | None, str | None, Any]:
    """``(arm, where it came from, release)``: the ``label`` field, else spp.json, else a release registry."""
    release = None
    if source is not None and meta is None:
        release, arm = _registry_arm(config, source)
        if config.label:
            return config.label, "label", release
        return (arm, f"release {release.name}", release) if release is not None else (None, None, None)
    if config.label:
        return config.label, "label", None
    return (meta.arm, "spp.json", None) if meta is not None and meta.arm else (None, None, None)


def _registry_arm(config: EvalConfig, source: Any) -> tuple[Any, str | None]:
    """The release registry listing the external model (by its repo id, or the id its local export records)."""
    from spp.releases import lookup

    repo_id = source.pinned.reference
    if source.pinned.source == "export":
        from spp.hub.export import LocalExport

        repo_id = LocalExport.existing(repo_id).repo_id or repo_id
    found = lookup(repo_id, config.release)
    if found is None:
        return None, None
    release, arm, size, kind = found
    logger.info("%s is %s's %s %s model of arm %s", repo_id, release.name, size, kind, arm)
    return release, arm


def open_subject(config: EvalConfig, backend: Any = None, api: Any = None) -> Subject:
    """Pin, label and template the model under test (module docstring). ``backend`` is a caller's own backend
    (then only a local model is opened); ``api`` replaces ``HfApi`` (tests)."""
    from spp.eval.turns import model_metadata
    from spp.modeling.chat_template import resolve_chat_template, use_chat_template

    source = _open(config, backend, api)
    meta = source.meta if source is not None else model_metadata(config) if backend is None else None
    arm, arm_source, release = _label(config, source, meta)
    if config.backend == "openai" and source is None:
        if config.chat_template != "model":
            raise SppConfigError(
                "the openai backend sends messages and the server renders them with its own chat template",
                field="chat_template",
                fix="leave chat_template: model and start the server with the template you want (vLLM/SGLang: "
                "--chat-template FILE), or evaluate with backend: transformers",
            )
        return Subject(None, meta, arm, arm_source, release, None, None)
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is None and source is not None:
        from spp.modeling import ModelSettings, load_tokenizer

        tokenizer = load_tokenizer(str(source.path), ModelSettings.of(config), "model")
    template = None
    if tokenizer is not None and _needs_chat(config, meta):
        spec = config.chat_template
        if spec == "model" and release is not None:
            spec = release.chat_template or "model"
        template = resolve_chat_template(tokenizer, spec, model_dir=source.path if source else None)
        use_chat_template(tokenizer, template)
        logger.info("chat template %s from %s (sha256 %s)", template.name, template.source, template.sha256[:12])
    return Subject(source, meta, arm, arm_source, release, template, tokenizer)
