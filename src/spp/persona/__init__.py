"""The Value Constitution, the persona, and how both are rendered into prompts and documents."""

from spp.persona.constitution import Constitution, Domain, Section, constitution_from_dict, load_constitution
from spp.persona.render import (
    BlockFormat,
    PromptRenderer,
    PromptTemplate,
    insert_reflection,
    messages_to_text,
    sample_pause,
    unit_draw,
)
from spp.persona.spec import IdentityFact, Persona, load_persona, persona_from_dict

__all__ = [
    "BlockFormat",
    "Constitution",
    "Domain",
    "IdentityFact",
    "Persona",
    "PromptRenderer",
    "PromptTemplate",
    "Section",
    "constitution_from_dict",
    "insert_reflection",
    "load_constitution",
    "load_persona",
    "messages_to_text",
    "persona_from_dict",
    "sample_pause",
    "unit_draw",
]
