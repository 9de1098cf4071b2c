"""The built-in measures of ``spp curves`` (``spp.eval.curves`` registers them): each takes a checkpoint branch and
the curves config and returns ``{metric: value}``.

- ``reflection_loss``: the loss on the held-out windows pretraining measured (``spp.pretrain.heldout``), rebuilt from
  the corpus with the model's recorded ``data_view`` and placement. A model without ``spp.json`` takes the view from
  flags, its ``seq_len`` and ``reflection_budget`` from the corpus's ``spp.json`` by default; a flag that differs
  from what the model or the corpus records is refused (``spp.contract.inherit_contract``).
- ``probes``: recall of the persona's planted and held-out identity facts (``spp.eval.probes``).
- ``asr``: the mean attack-success rate of ``spp eval`` on a small benchmark subset.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spp.errors import SppConfigError

if TYPE_CHECKING:
    from spp.eval.curves import Branch, CurvesConfig


def heldout_view(meta: Any, model_dir: Path, corpus: str, config: CurvesConfig) -> dict[str, Any]:
    """The data view of the held-out windows: the model's recorded ``data_view``, else the flags with ``seq_len``
    and ``reflection_budget`` from the corpus's ``spp.json`` by default. A ``--seq_len`` or ``--reflection_budget``
    that differs from what the model (or, without one, the corpus) records is refused; a field nobody gives is an
    error naming the flags."""
    from spp.contract import inherit_contract
    from spp.metadata import read_metadata

    given = {"seq_len": config.seq_len or None, "reflection_budget": config.reflection_budget or None}
    if meta is not None:
        view = dict(meta.details.get("data_view") or {})
        fix = "leave --seq_len and --reflection_budget out: the model records the windows it was trained on"
        return view | inherit_contract(view, given, source=str(model_dir / "spp.json"), fix=fix)
    folder = Path(corpus) if Path(corpus).is_dir() else Path(corpus).parent
    corpus_meta = read_metadata(folder)
    recorded = corpus_meta.details.get("contract") if corpus_meta is not None else None
    fix = "leave --seq_len and --reflection_budget out (the corpus records them), or give the model's own corpus"
    sizes = inherit_contract(recorded if isinstance(recorded, dict) else None, given, str(folder / "spp.json"), fix)
    missing = [k for k, v in sizes.items() if v is None] + ([] if config.heldout_documents else ["heldout_documents"])
    if missing:
        raise SppConfigError(
            f"neither the model nor the corpus has an spp.json that says {missing}, so reflection_loss needs them "
            "from flags",
            field=missing[0],
            fix="pass --seq_len, --reflection_budget and --heldout_documents as the model was trained (the SPP "
            "release: 2048, 128, and the held-out rows of your corpus)",
        )
    keys = ("heldout_documents", "voice", "layout", "data_seed")
    return sizes | {k: getattr(config, k) for k in keys}


def reflection_loss(branch: Branch, config: CurvesConfig) -> dict[str, Any]:
    import torch

    from spp.modeling import ModelSettings, load_causal_lm, load_tokenizer
    from spp.pretrain.callbacks import kind_losses
    from spp.pretrain.heldout import heldout_windows_of_corpus

    meta = branch.meta
    corpus = config.corpus or ((meta.lineage or {}).get("dataset") if meta else None)
    if not corpus:
        raise SppConfigError("reflection_loss needs the augmented corpus", field="corpus", fix="pass --corpus PATH")
    view = heldout_view(meta, branch.path, corpus, config)
    settings, path = ModelSettings.of(config), str(branch.path)
    placement = meta.details.get("placement") if meta else None
    tokenizer = load_tokenizer(path, settings)
    windows = heldout_windows_of_corpus(corpus, tokenizer, view, config.heldout_windows or 8, placement)
    model = load_causal_lm(path, settings)
    with torch.no_grad():
        losses = kind_losses(model, windows, model.device, None, batch_size=4)
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in losses.items()}


def _eval(branch: Branch, config: CurvesConfig, benchmarks: list[str], probes: bool, scratch: Path) -> dict:
    from spp.eval.config import EvalConfig
    from spp.eval.suite import run_suite

    eval_config = EvalConfig(
        model=str(branch.path),
        benchmarks=list(benchmarks),
        data_dir=config.data_dir,
        limit=config.limit,
        system_prompt="none",
        max_new_tokens=config.max_new_tokens,
        device=config.device,
        dtype=config.dtype,
        judge=config.judge,
        probes=probes,
        persona=config.persona,
        chat_template=config.chat_template,
        release="none",
        bootstrap_samples=100,
        output_dir=str(scratch),
    )
    return run_suite(eval_config)


def probes(branch: Branch, config: CurvesConfig) -> dict[str, Any]:
    from spp.eval.generation import GenRequest, GenSettings, TransformersBackend
    from spp.eval.probes import score_probes
    from spp.modeling.chat_template import named_templates, resolve_chat_template, use_chat_template
    from spp.persona.spec import load_persona, persona_from_dict

    meta = branch.meta
    if meta and meta.persona:
        persona = persona_from_dict(meta.persona, source=f"{branch.path}/spp.json")
    elif config.persona:
        persona = load_persona(config.persona)
    else:
        raise SppConfigError(
            "nothing to probe: the model's spp.json names no persona", source=str(branch.path), field="persona",
            fix="pass --persona PERSONA.yaml (a model without spp.json)",
        )  # fmt: skip
    backend = TransformersBackend(str(branch.path), batch_size=8, dtype=config.dtype, device=config.device)
    chat = bool(named_templates(backend.tokenizer)) or config.chat_template != "model"
    if chat:  # the checkpoint's own template (or the named one), never spp's; a base checkpoint: the raw question
        use_chat_template(
            backend.tokenizer, resolve_chat_template(backend.tokenizer, config.chat_template, model_dir=branch.path)
        )
    settings = GenSettings(max_new_tokens=config.max_new_tokens, temperature=0.0)
    requests = [GenRequest((("user", f.question),), chat=chat, settings=settings) for f in persona.identity_facts]
    found = score_probes(persona.identity_facts, backend.generate(requests))
    return {
        "probe_recall": found["planted"]["recall"],
        "control_recall": found["held_out"]["recall"],
        "probe_prompt": "chat" if chat else "raw question",
    }


def asr(branch: Branch, config: CurvesConfig) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        results = _eval(branch, config, config.benchmarks, False, Path(scratch))
    if results.get("incomplete"):  # too many unreadable judge answers: not a point of the curve
        from spp.eval.judges import JudgingIncomplete

        raise JudgingIncomplete(f"{branch.path}: {results['incomplete']}")
    return {"asr": results["headline"]["mean"], "asr_judge": results["judge"]}
