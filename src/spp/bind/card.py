"""The dataset card of a persona-binding set (``hub_cards/bind_dataset_card.md``), from its ``spp.json``.

``spp.hub.cards.DATASET_CARDS`` names ``render_bind_card`` for the sets whose ``spp.json`` records
``details.schema`` ``spp.bind.provenance.SCHEMA_NAME``: ``spp publish dataset`` renders it from there."""

from __future__ import annotations

from typing import Any

from spp.metadata import SppMetadata


def render_bind_card(meta: SppMetadata, features: Any = None, repo_id: str | None = None, card_data_extra=None):
    """The ``DatasetCard``; ``card_data_extra`` keeps YAML that ``datasets`` wrote (configs) when publishing."""
    from huggingface_hub import DatasetCard, DatasetCardData

    from spp.hub.cards import DEFAULT_LICENSE, template_path

    d, persona, constitution = meta.details, meta.persona or {}, meta.constitution or {}
    generator = d.get("generator") or {}
    card_data = DatasetCardData(
        license=d.get("license", DEFAULT_LICENSE),
        pretty_name=repo_id or "SPP persona-binding SFT data",
        task_categories=["text-generation"],
        tags=["spp", "synthetic-persona-pretraining", "persona-binding", "safety"],
        **(card_data_extra or {}),
    )
    context = {
        "persona_name": persona.get("name", "not recorded"),
        "persona_id": persona.get("id", "not recorded"),
        "generator_backend": generator.get("backend", "not recorded"),
        "generator_model": generator.get("model", "not recorded"),
        "prompt_hash": meta.prompt_hash or "not recorded",
        "prompt_set_hash": d.get("prompt_set_sha256", "not recorded"),
        "num_prompts": d.get("num_prompts", "?"),
        "constitution_name": constitution.get("name", "not recorded"),
        "constitution_version": constitution.get("version", ""),
        "constitution_hash": constitution.get("hash", ""),
        "spp_version": meta.spp_version,
        "sources": d.get("sources", []),
        "status_counts": sorted((d.get("counts") or {}).items()),
        "rejected": sorted((d.get("rejected") or {}).items()),
        "failed": sorted((d.get("failed") or {}).items()),
        "by_category": sorted((d.get("by_category") or {}).items()),
    }
    title = repo_id or "SPP persona-binding SFT data"
    return DatasetCard.from_template(
        card_data, template_path=str(template_path("bind_dataset_card")), title=title, **context
    )
