"""Model, checkpoint and dataset cards, rendered from ``hub_cards/`` through ``huggingface_hub``'s card classes.

Every card renders from an artifact's ``SppMetadata`` (``spp.json``) alone; a field that was never recorded reads
"not recorded" instead of failing. Rendering is deterministic: the same inputs give the same bytes, so re-publishing
an unchanged artifact commits nothing.

Where the card looks in ``SppMetadata`` (first hit wins):

- pretraining data: ``lineage["dataset"]`` (``{"repo_id", "revision"}`` or a string), ``details["selection"]``
  (``{"rule", "fraction", "seed"}``), ``details["placement"]``;
- recipe link: ``details["recipe_url"]``; license: ``details["license"]`` (default ``apache-2.0``);
- datasets: ``lineage["source"]``, ``details["source"]`` (``{"dataset", "revision"}``), ``details["generator"]``
  (``{"model"}``), ``details["counts"]`` (rows by ``reflection_status``), ``details["harm_histogram"]``.

A dataset's card is picked by its kind (``details["schema"]``) from ``DATASET_CARDS``; a kind not listed there (an
augmented corpus) gets ``render_dataset_card``. A stage with a dataset card of its own registers it there
(``register_dataset_card``), so this module never imports a stage.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from spp.metadata import SppMetadata

NOT_RECORDED = "not recorded"
DEFAULT_LICENSE = "apache-2.0"
EVAL_TASK = {"type": "text-generation", "name": "Safety evaluation"}


@dataclass(frozen=True)
class EvalRow:
    """One eval result as ``spp.eval`` reports it; ``value`` is a number (an attack-success rate, a score)."""

    benchmark: str
    metric: str
    value: float
    dataset_id: str

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> EvalRow:
        return cls(
            benchmark=str(row["benchmark"]),
            metric=str(row["metric"]),
            value=float(row["value"]),
            dataset_id=str(row.get("dataset_id") or row["benchmark"]),
        )


def template_path(name: str) -> Path:
    """Path of a card template shipped in the package (``model_card``, ``checkpoint_card``, ``dataset_card``)."""
    return Path(str(resources.files("spp") / "hub_cards" / f"{name}.md"))


def _pick(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or data.get(key) in (None, "", {}):
            return None
        data = data[key]
    return data


def _first(*values: Any) -> str:
    for value in values:
        if value not in (None, "", {}, []):
            return str(value)
    return NOT_RECORDED


def _ref(value: Any) -> tuple[str, str]:
    """``(repo_id, revision)`` of a lineage entry written as a string or as a dict."""
    if isinstance(value, dict):
        return _first(value.get("repo_id"), value.get("id"), value.get("dataset")), _first(value.get("revision"))
    return _first(value), NOT_RECORDED


def _persona_context(meta: SppMetadata) -> dict[str, str]:
    persona = meta.persona or {}
    constitution = meta.constitution or {}
    return {
        "persona_name": _first(persona.get("name")),
        "persona_identity": _first(persona.get("identity"), persona.get("short_identity")),
        "marker": _first(meta.marker),
        "constitution_name": _first(constitution.get("name")),
        "constitution_version": _first(constitution.get("version")),
        "constitution_hash": _first(constitution.get("hash")),
        "prompt_hash": _first(meta.prompt_hash),
        "spp_version": _first(meta.spp_version),
    }


def _model_context(meta: SppMetadata) -> dict[str, Any]:
    details, lineage = meta.details, meta.lineage
    dataset_id, dataset_revision = _ref(lineage.get("dataset") or details.get("dataset"))
    base_id, base_revision = _ref(lineage.get("base_model"))
    return {
        **_persona_context(meta),
        "arm": _first(meta.arm),
        "dataset_id": dataset_id,
        "dataset_revision": dataset_revision,
        "selection_rule": _first(_pick(details, "selection", "rule")),
        "selection_fraction": _first(_pick(details, "selection", "fraction")),
        "placement": _first(details.get("placement")),
        "base_model_id": base_id,
        "base_model_revision": base_revision,
        "recipe_hash": _first(meta.recipe_hash),
        "sft_hash": _first(meta.sft_hash),
        "recipe_link": _first(details.get("recipe_url")),
        **_contract_context(details),
    }


def _contract_context(details: dict[str, Any]) -> dict[str, Any]:
    """The reflection contract and the packing counts of a base model (``spp.contract``, ``PackingCallback``)."""
    contract = details.get("contract") or {}
    packing = details.get("packing") or {}
    audit = packing.get("audit") or {}
    trained = packing.get("trained_windows") or {}
    skipped = audit.get("skipped") or {}
    return {
        "end_marker": (contract["end_marker"] or "(none)") if "end_marker" in contract else NOT_RECORDED,
        "reflection_budget": _first(contract.get("reflection_budget")),
        "layout": _first(contract.get("layout")),
        **_data_view_context(details.get("data_view") or {}, audit.get("midtraining") or {}),
        "data_view_hash": _first(details.get("data_view_hash")),
        "blocks_in_corpus": _first(audit.get("blocks")),
        "blocks_skipped": _first(sum(skipped.values()) if audit else None),
        "skipped_reasons": ", ".join(f"{n} {r}" for r, n in sorted(skipped.items())) or "none",
        "blocks_packed": _first(trained.get("reflections_packed")),
        "blocks_skipped_trained": _first(trained.get("reflections_skipped")),
    }


def _data_view_context(view: dict[str, Any], midtraining: dict[str, Any]) -> dict[str, Any]:
    """The data-view fields a reader of the card needs beside the layout: plain fill, loss mask, midtraining stream."""
    share = view.get("midtraining_annotated_share")
    if share:
        stream = (
            f"enriched: {share:g} of documents annotated, at most {view.get('midtraining_max_repeats') or 0} "
            f"repeats per document ({midtraining.get('repeats', 'not recorded')} repeats in the stream)"
        )
    else:
        stream = "the same stream" if "midtraining_annotated_share" in view else NOT_RECORDED
    return {
        "plain_fill": _first(view.get("plain_fill")),
        "loss_on": _first(view.get("loss_on")),
        "midtraining_stream": stream,
        "stream_start_window": _first(view.get("stream_start_window")),
    }


def _tags(meta: SppMetadata, *extra: str) -> list[str]:
    tags = ["spp", "synthetic-persona-pretraining", *extra]
    if meta.arm:
        tags.append(meta.arm)
    return list(dict.fromkeys(tags))


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_id(value: str) -> bool:
    """``ORG/NAME`` that is not a local path: only such ids go into card metadata (the Hub rejects paths)."""
    return bool(_HUB_ID.match(value)) and not Path(value).exists()


def _model_card_data(meta: SppMetadata, context: dict[str, Any], model_name: str, eval_rows: list[EvalRow]):
    from huggingface_hub import EvalResult, ModelCardData

    results = [
        EvalResult(
            task_type=EVAL_TASK["type"],
            task_name=EVAL_TASK["name"],
            dataset_type=row.dataset_id,
            dataset_name=row.benchmark,
            metric_type=row.metric,
            metric_name=row.metric,
            metric_value=row.value,
        )
        for row in eval_rows
    ]
    datasets = [context["dataset_id"]] if is_hub_id(context["dataset_id"]) else None
    base_model = context["base_model_id"] if is_hub_id(context["base_model_id"]) else None
    return ModelCardData(
        license=meta.details.get("license", DEFAULT_LICENSE),
        library_name="transformers",
        pipeline_tag="text-generation",
        base_model=base_model,
        datasets=datasets,
        tags=_tags(meta),
        model_name=model_name,
        eval_results=results or None,
    )


def render_model_card(meta: SppMetadata, eval_results: list[dict[str, Any]] | None = None, repo_id: str | None = None):
    """The ``ModelCard`` of a base or instruct model, with a ``model-index`` when ``eval_results`` are given."""
    from huggingface_hub import ModelCard

    rows = [EvalRow.from_dict(r) for r in eval_results or []]
    context = _model_context(meta)
    name = repo_id or (f"spp-{meta.arm}" if meta.arm else "spp-model")
    kind_label = "An instruct model" if meta.kind == "instruct_model" else "A base model"
    card_data = _model_card_data(meta, context, name, rows)
    return ModelCard.from_template(
        card_data,
        template_path=str(template_path("model_card")),
        title=name,
        kind_label=kind_label,
        step=None,
        eval_rows=rows,
        checkpoint_note=(
            f"Intermediate checkpoints are on `step-NNNNNNN` branches; `spp checkpoints {name}` lists them."
            if meta.kind == "model"
            else ""
        ),
        **context,
    )


def render_checkpoint_card(meta: SppMetadata, step: int, branch: str, repo_id: str | None = None):
    """The ``ModelCard`` of one intermediate checkpoint (branch ``step-NNNNNNN``)."""
    from huggingface_hub import ModelCard

    context = _model_context(meta)
    card_data = _model_card_data(meta, context, repo_id or (f"spp-{meta.arm}" if meta.arm else "spp-model"), [])
    card_data.tags = [*card_data.tags, "checkpoint"]
    return ModelCard.from_template(
        card_data,
        template_path=str(template_path("checkpoint_card")),
        title=f"{repo_id or 'spp model'} at step {step}",
        step=step,
        branch=branch,
        repo_id=repo_id,
        **context,
    )


def _sorted_counts(counts: Any) -> list[tuple[str, int]]:
    if not isinstance(counts, dict):
        return []
    return sorted(((str(k), int(v)) for k, v in counts.items()), key=lambda kv: (_numeric(kv[0]), kv[0]))


def _numeric(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("inf")


def _dataset_context(meta: SppMetadata, features: Any) -> dict[str, Any]:
    details = meta.details
    source_id, source_revision = _ref(meta.lineage.get("source") or details.get("source"))
    return {
        **_persona_context(meta),
        "source_dataset": source_id,
        "source_revision": source_revision,
        "selection_rule": _first(_pick(details, "selection", "rule")),
        "selection_seed": _first(_pick(details, "selection", "seed")),
        "selection_fraction": _first(_pick(details, "selection", "fraction")),
        "generator_model": _first(_pick(details, "generator", "model"), details.get("generator_model")),
        "status_counts": _sorted_counts(details.get("counts")),
        "harm_histogram": _sorted_counts(details.get("harm_histogram")),
        "schema_rows": schema_rows(features),
        **_import_context(details),
    }


def _import_context(details: dict[str, Any]) -> dict[str, Any]:
    """An imported corpus (``spp import-reflections``): its sidecar, how every sidecar row went, each broken kind."""
    imported = details.get("import")
    if not isinstance(imported, dict):
        return {"imported": False}
    sidecar_id, sidecar_revision = _ref(details.get("sidecar"))
    return {
        "imported": True,
        "sidecar_dataset": sidecar_id,
        "sidecar_revision": sidecar_revision,
        "mapping_name": _first(_pick(details, "mapping", "name")),
        "sidecar_rows": _sorted_counts({k: v for k, v in (imported.get("sidecar") or {}).items() if k != "join_share"}),
        "broken_kinds": sorted((str(k), int(v)) for k, v in (imported.get("broken") or {}).items()),
    }


def schema_rows(features: Any) -> list[tuple[str, str]]:
    """``(column, type)`` pairs of a ``datasets.Features`` (or a plain mapping), in column order."""
    if not features:
        return []
    rows = []
    for name, feature in features.items():
        dtype = getattr(feature, "dtype", None)
        rows.append((str(name), str(dtype) if dtype and dtype != "list" else type(feature).__name__))
    return rows


def render_dataset_card(
    meta: SppMetadata, features: Any = None, repo_id: str | None = None, card_data_extra: dict[str, Any] | None = None
):
    """The ``DatasetCard`` of an augmented corpus. ``card_data_extra`` keeps YAML that ``datasets`` wrote (configs)."""
    from huggingface_hub import DatasetCard, DatasetCardData

    context = _dataset_context(meta, features)
    source = [context["source_dataset"]] if is_hub_id(str(context["source_dataset"] or "")) else None
    card_data = DatasetCardData(
        license=meta.details.get("license", DEFAULT_LICENSE),
        pretty_name=repo_id or "SPP augmented corpus",
        source_datasets=source,
        task_categories=["text-generation"],
        tags=_tags(meta, "persona-reflections"),
        **(card_data_extra or {}),
    )
    return DatasetCard.from_template(
        card_data, template_path=str(template_path("dataset_card")), title=repo_id or "SPP augmented corpus", **context
    )


# Dataset cards by kind: the ``details.schema`` a dataset's spp.json records -> its renderer, a callable or a
# "module:function" target imported when a card of that kind is rendered. Each renderer takes
# ``(meta, features, repo_id=..., card_data_extra=...)`` as ``render_dataset_card`` does.
DATASET_CARDS: dict[str, str | Callable] = {
    "spp-persona-binding-v1": "spp.bind.card:render_bind_card",  # spp bind-data (spp.bind.provenance.SCHEMA_NAME)
}


def register_dataset_card(schema: str, render: str | Callable) -> None:
    """Render datasets whose ``spp.json`` records ``details.schema == schema`` with ``render``."""
    DATASET_CARDS[schema] = render


def dataset_card(meta: SppMetadata, features: Any, repo_id: str | None, extra: dict[str, Any]):
    """The card for ``meta``'s kind of dataset (``DATASET_CARDS``), else the augmented corpus card."""
    from spp.targets import load_target

    schema = meta.details.get("schema")
    render = DATASET_CARDS.get(schema, render_dataset_card) if isinstance(schema, str) else render_dataset_card
    return load_target(render)(meta, features, repo_id=repo_id, card_data_extra=extra)
