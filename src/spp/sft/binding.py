"""Persona binding: what SFT reads back from the base model (markers, persona, arm), checked against its tokenizer.

Promises: a base model without spp metadata either fails with an ``SppConfigError`` that says what is missing and how
to proceed, or (``on_missing_metadata="default"``) proceeds with defaults that are logged as a warning and recorded in
the instruct model's ``spp.json``; a marker recorded in ``spp.json`` that the tokenizer lacks is an error, never
silently re-added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accelerate.logging import get_logger

from spp.contract import BlockFormat, block_format_of, read_spp_json
from spp.errors import SppConfigError
from spp.metadata import METADATA_FILENAME, SppMetadata
from spp.persona import load_persona

logger = get_logger("spp.sft")  # accelerate's: the main process logs, not every rank


@dataclass(frozen=True)
class Binding:
    """The persona and markers SFT binds to. ``defaulted`` names the parts that did not come from ``spp.json``."""

    block_format: BlockFormat
    persona: dict[str, Any]
    arm: str | None
    defaulted: tuple[str, ...] = ()


def read_base_metadata(name_or_path: str, revision: str | None = None) -> SppMetadata | None:
    """The base model's ``spp.json`` (a local folder or export, or downloaded alone from a Hub repo at ``revision``);
    ``None`` if it has none. One reader for every stage: ``spp.contract.read_spp_json``."""
    return read_spp_json(name_or_path, revision, field_name="model_name_or_path")


def _missing(meta: SppMetadata | None) -> list[str]:
    if meta is None:
        return [METADATA_FILENAME]
    return [name for name, value in (("block_format", meta.marker), ("persona", meta.persona)) if not value]


def resolve_binding(
    meta: SppMetadata | None,
    *,
    source: str,
    on_missing_metadata: str = "error",
    default_persona: str = "default",
    arm: str | None = None,
) -> Binding:
    """The binding recorded in ``meta``; missing parts raise, or default with a warning (see the module docstring)."""
    missing = _missing(meta)
    if missing and on_missing_metadata != "default":
        raise SppConfigError(
            f"base model has no {' / '.join(missing)}: SFT cannot know its marker token and persona",
            source=source,
            fix="SFT a base model written by `spp pretrain` (it writes spp.json), or pass --on_missing_metadata "
            f"default to bind to the default markers {BlockFormat().marker} / {BlockFormat().end_marker} and the "
            f"'{default_persona}' persona (logged, and recorded in the instruct model's spp.json)",
        )
    block_format = block_format_of(meta) or BlockFormat()
    persona = meta.persona if meta is not None and meta.persona else load_persona(default_persona).to_dict()
    if missing:
        logger.warning(
            "%s has no %s: using the DEFAULT binding (on_missing_metadata=default): markers %s / %s, persona %s",
            source,
            " / ".join(missing),
            block_format.marker,
            block_format.end_marker,
            persona["name"],
        )
    return Binding(block_format, persona, _arm(meta, arm, source), tuple(missing))


def _arm(meta: SppMetadata | None, arm: str | None, source: str) -> str | None:
    recorded = meta.arm if meta is not None else None
    if recorded and arm and recorded != arm:
        raise SppConfigError(
            f"--arm {arm!r} contradicts the arm {recorded!r} recorded in spp.json", source=source, field="arm"
        )
    return recorded or arm


def ensure_marker_tokens(tokenizer: Any, model: Any, binding: Binding) -> None:
    """Check that the markers are single tokens of ``tokenizer`` and covered by the model's embeddings.

    An empty end marker is allowed: the assistant turn then ends with the tokenizer's ``eos_token``.

    Defaulted markers are added (as special tokens, embeddings resized, logged); recorded ones must already be there.
    """
    fmt = binding.block_format
    markers = [m for m in (fmt.marker, fmt.end_marker) if m]  # an empty end marker (the authors') is no token
    missing = [m for m in markers if m not in tokenizer.get_vocab()]
    if missing and "block_format" not in binding.defaulted and METADATA_FILENAME not in binding.defaulted:
        raise SppConfigError(
            f"the base tokenizer lacks the marker tokens {missing} that its spp.json records",
            field="model_name_or_path",
            fix="the tokenizer and spp.json come from different runs: use the folder `spp pretrain` wrote",
        )
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
        logger.warning("added the default marker tokens %s to the tokenizer (new, untrained embeddings)", missing)
    for marker in markers:
        if len(tokenizer(marker, add_special_tokens=False)["input_ids"]) != 1:
            raise SppConfigError(f"the marker {marker!r} is not a single token of the base tokenizer")
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
