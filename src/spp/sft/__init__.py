"""Identical, persona-bound SFT with TRL (``spp sft``).

    from spp.sft import SPPSFTConfig, run_sft, check_same_sft

``run_sft`` trains a base model with TRL's ``SFTTrainer`` under a chat template whose assistant turn opens with the
base model's reflection marker; ``check_same_sft`` is what compare calls before putting instruct models side by side.
Submodules import TRL/transformers only when used, except ``config`` (``SPPSFTConfig`` subclasses ``SFTConfig``).
"""

from __future__ import annotations

from spp.targets import lazy_exports

_EXPORTS = {
    "SPPSFTConfig": "spp.sft.config",
    "SFTDataset": "spp.sft.config",
    "run_sft": "spp.sft.train",
    "SFTResult": "spp.sft.train",
    "check_same_sft": "spp.sft.identity",
    "sft_hash": "spp.sft.identity",
    "sft_recipe": "spp.sft.identity",
    "build_chat_template": "spp.sft.template",
    "TemplateSpec": "spp.sft.template",
    "strip_citations": "spp.sft.citations",
    "prose_citations": "spp.sft.citations",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
