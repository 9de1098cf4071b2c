"""``spp render-prompt``'s run: the exact messages the generator is sent for one document, and the prompt hash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spp.contract import ReflectionContract
from spp.persona.config import PersonaConfig, RenderPromptConfig
from spp.persona.render import PromptRenderer, sample_pause


@dataclass
class RenderedPrompt:
    """The messages for ``document`` paused at character ``pause``, the renderer that made them, its prompt hash."""

    messages: list[dict[str, Any]]
    pause: int
    prompt_hash: str
    renderer: PromptRenderer
    document_chars: int = 0


def render_summary(shown: RenderedPrompt) -> str:
    """What ``spp render-prompt`` prints: the messages as JSON, the constitution, persona, pause and prompt hash."""
    import json

    constitution, persona = shown.renderer.constitution, shown.renderer.persona
    return "\n".join(
        [
            json.dumps(shown.messages, indent=2, ensure_ascii=False),
            "",
            f"constitution: {constitution.name} {constitution.version} ({len(constitution.sections)} sections)",
            f"persona: {persona.name} ({persona.id})",
            f"reading pause: character {shown.pause} of {shown.document_chars}",
            f"prompt hash: {shown.prompt_hash}",
        ]
    )


def render_prompt(
    persona: PersonaConfig, contract: ReflectionContract, document: RenderPromptConfig
) -> RenderedPrompt:
    """Render the generator prompt for ``document.document`` (its reading pause seeded by id and seed), exactly as
    ``spp augment`` renders it under ``persona`` and ``contract``."""
    renderer = persona.renderer(contract)
    text = document.document
    pause = sample_pause(text, document.document_id, document.seed, persona.pause_distribution,
                         persona.pause_min_fraction)  # fmt: skip
    return RenderedPrompt(renderer.messages(text, pause), pause, renderer.prompt_hash(), renderer, len(text))
