"""The configs of the persona stage: which constitution and persona a run uses, where the reading pause falls
(``PersonaConfig``, read by ``spp augment``), and the one document ``spp render-prompt`` shows a prompt for."""

from __future__ import annotations

from dataclasses import dataclass, field

from spp.checks import AT_LEAST_ONE, FRACTION
from spp.contract import ReflectionContract, max_words
from spp.errors import SppConfigError
from spp.persona.constitution import load_constitution
from spp.persona.render import PAUSE_DISTRIBUTIONS, PromptRenderer
from spp.persona.spec import load_persona


@dataclass
class PersonaConfig:
    """Which constitution and persona to use, and where the generator pauses (markers: ``ReflectionContract``)."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "pause_min_fraction": FRACTION,
        "max_document_chars": AT_LEAST_ONE,
    }

    constitution: str = field(
        default="default", metadata={"help": "Value Constitution: 'default' (shipped) or a .yaml / .md file."}
    )
    persona: str = field(default="default", metadata={"help": "Persona spec: 'default' (shipped) or a YAML file."})
    pause_distribution: str = field(
        default="uniform_after",
        metadata={"values": "spp.persona.render:PAUSE_DISTRIBUTIONS", "help": "Reading pause distribution."}
    )
    pause_min_fraction: float = field(
        default=0.2, metadata={"help": "uniform_after: no pause in this leading share of the text; ramp: ramp length."}
    )
    max_document_chars: int = field(
        default=12_000, metadata={"help": "Longest document excerpt put in a prompt (head + text before the pause)."}
    )

    def __post_init__(self) -> None:
        if self.pause_distribution not in PAUSE_DISTRIBUTIONS:
            raise SppConfigError(
                f"unknown reading pause distribution {self.pause_distribution!r}",
                field="pause_distribution",
                fix=f"use one of {PAUSE_DISTRIBUTIONS}",
            )
        if not 0.0 <= self.pause_min_fraction <= 1.0:
            raise SppConfigError(f"must be between 0 and 1, got {self.pause_min_fraction}", field="pause_min_fraction")
        if self.max_document_chars <= 0:
            raise SppConfigError(f"must be positive, got {self.max_document_chars}", field="max_document_chars")
        # Read and validate both files now, at parse time: a bad one fails before any job is claimed.
        load_constitution(self.constitution)
        load_persona(self.persona)

    def renderer(self, contract: ReflectionContract | None = None) -> PromptRenderer:
        """Load and validate the constitution and persona (``SppConfigError`` on bad files); the block format and
        the reflection length asked of the generator come from ``contract`` (``spp.contract``)."""
        contract = contract or ReflectionContract()
        return PromptRenderer(
            load_constitution(self.constitution),
            load_persona(self.persona),
            block_format=contract.block_format,
            max_document_chars=self.max_document_chars,
            max_reflection_words=max_words(contract),
        )


@dataclass
class RenderPromptConfig:
    document: str = field(default="", metadata={"help": "Document text to render a prompt for."})
    document_id: str = field(default="example", metadata={"help": "Document id (seeds the reading pause)."})
    seed: int = field(default=0, metadata={"help": "Seed of the reading pause."})
