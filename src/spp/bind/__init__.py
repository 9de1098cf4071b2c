"""Persona-binding SFT data (``spp bind-data``): paired cited/uncited persona answers on the generate stack.

    from spp.bind import BindConfigs, BindJob

Submodules import ``datasets``/``pyarrow`` only when used.
"""

from __future__ import annotations

from spp.targets import lazy_exports

_EXPORTS = {
    "BindConfigs": "spp.bind.job",
    "BindJob": "spp.bind.job",
    "BindJobConfig": "spp.bind.job",
    "BindPrompter": "spp.bind.prompts",
    "BindValidator": "spp.bind.validate",
    "PromptSource": "spp.bind.sources",
    "draw_prompts": "spp.bind.sources",
    "build_bind_generator": "spp.bind.generate",
    "offline_answer": "spp.bind.offline",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
