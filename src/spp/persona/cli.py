"""``spp render-prompt``: show exactly what the generator will be asked for one document, and the prompt hash.

spp render-prompt --document "Some text to reflect on." --constitution my_constitution.md --persona me.yaml
"""

from __future__ import annotations

import json

from spp.contract import ReflectionContract
from spp.persona.config import PersonaConfig, RenderPromptConfig
from spp.persona.preview import render_prompt
from spp.recipes import parse_config

__all__ = ["PersonaConfig", "RenderPromptConfig", "main"]  # PersonaConfig's old home, kept importable


def main(argv: list[str] | None = None) -> int:
    persona_config, contract, render_config = parse_config(
        [PersonaConfig, ReflectionContract, RenderPromptConfig], argv, prog="spp render-prompt"
    )
    shown = render_prompt(persona_config, contract, render_config)
    print(json.dumps(shown.messages, indent=2, ensure_ascii=False))
    constitution, persona = shown.renderer.constitution, shown.renderer.persona
    print(f"\nconstitution: {constitution.name} {constitution.version} ({len(constitution.sections)} sections)")
    print(f"persona: {persona.name} ({persona.id})")
    print(f"reading pause: character {shown.pause} of {len(render_config.document)}")
    print(f"prompt hash: {shown.prompt_hash}")
    return 0
