"""Emergence curves: chosen measures on every ``step-*`` checkpoint branch of one or more models, against tokens seen.

A model is a local export folder (``spp.hub.export``) or a Hub repo id (its branches through ``spp.hub``). Each
branch is evaluated once per measure: results are cached under ``CACHE_DIR/<model>/<branch>/<measure>.json``, keyed
by the branch's files (an export's sha256 manifest, or the Hub's commit) and the measure's settings, so a rerun
evaluates only new branches or changed settings.

Measures (a registry: ``register_measure``):

- ``reflection_loss``: next-token loss on the reflection tokens (and the document tokens) of held-out windows, built
  exactly as ``spp pretrain`` builds its held-out windows (the first ``heldout_documents`` rows of the corpus,
  every one with its reflection, packed with the model's recorded ``data_view``): the callback's measure, recomputed
  per checkpoint.
- ``probes``: the persona probes of ``spp eval`` (``spp.eval.probes``, greedy): recall of planted identity facts
  and of the held-out control facts, asked as a chat turn when the tokenizer has a chat template, else as the raw
  question (a base checkpoint).
- ``asr``: the mean attack-success rate of ``spp eval`` on a small benchmark subset (``benchmarks``, ``limit``),
  with the judge named in the output; it needs checkpoints with a chat template (instruct checkpoints).

Tokens seen at a branch: ``step * windows_per_step * seq_len`` from its ``spp.json`` (``details.data_view``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError

logger = logging.getLogger("spp.eval")


@dataclass
class CurvesConfig:
    """The fields of ``spp curves``."""

    models: list[str] = field(
        default_factory=list, metadata={"help": "Models: local export folders (spp publish --to_dir) or Hub ids."}
    )
    measures: list[str] = field(
        default_factory=lambda: ["reflection_loss", "probes"],
        metadata={"help": "Measures per branch: reflection_loss, probes, asr."},
    )
    corpus: str = field(
        default="",
        metadata={"help": "reflection_loss: the augmented corpus (default: the model's lineage.dataset)."},
    )
    heldout_windows: int = field(
        default=0, metadata={"help": "reflection_loss: held-out windows (0: the model's own heldout count or 8)."}
    )
    benchmarks: list[str] = field(default_factory=lambda: ["advbench"], metadata={"help": "asr: benchmarks."})
    data_dir: str = field(default="", metadata={"help": "asr: folder of local benchmark files (release names)."})
    limit: int = field(default=10, metadata={"help": "asr: items per benchmark."})
    judge: str = field(default="keyword", metadata={"help": "asr: judge type (keyword is the offline smoke judge)."})
    max_new_tokens: int = field(default=16, metadata={"help": "probes, asr: new tokens per response (greedy)."})
    device: str = field(default="auto", metadata={"help": "Where branches run: 'auto' (CUDA when present), 'cpu'."})
    dtype: str = field(default="float32", metadata={"help": "Weights' dtype (float32: branches compare exactly)."})
    labels: list[str] = field(
        default_factory=list, metadata={"help": "One legend label per model (default: the model's arm, else name)."}
    )
    title: str = field(default="Emergence curves", metadata={"help": "Title of the PNG."})
    output_dir: str = field(default="curves", metadata={"help": "Where curves.json, curves.md, curves.png go."})
    cache_dir: str = field(default="", metadata={"help": "Per-branch cache (default: OUTPUT_DIR/cache)."})
    repo_type: str = field(default="model", metadata={"help": "Hub repo type of the models."})


@dataclass
class Branch:
    """One checkpoint branch of one model, materialised as a local folder."""

    model: str
    name: str
    step: int
    path: Path
    key: str  # what identifies its files: manifest hash or Hub commit
    meta: Any

    @property
    def tokens_seen(self) -> int | None:
        view = (self.meta.details.get("data_view") or {}) if self.meta else {}
        if view.get("windows_per_step") and view.get("seq_len"):
            return self.step * int(view["windows_per_step"]) * int(view["seq_len"])
        return None


Measure = Callable[[Branch, CurvesConfig], dict[str, Any]]
MEASURES: dict[str, Measure] = {}


def register_measure(name: str, function: Measure) -> None:
    """Add a measure: ``function(branch, config) -> {metric: value, ...}`` (JSON-serialisable)."""
    MEASURES[name] = function


def measure_settings(name: str, config: CurvesConfig) -> dict[str, Any]:
    """The config fields a measure's result depends on (part of its cache key)."""
    keys = {
        "reflection_loss": ("corpus", "heldout_windows", "dtype"),
        "probes": ("max_new_tokens", "dtype"),
        "asr": ("benchmarks", "data_dir", "limit", "judge", "max_new_tokens", "dtype"),
    }.get(name, tuple(asdict(config)))
    return {k: getattr(config, k) for k in keys if k not in ("models", "labels", "output_dir", "cache_dir", "title")}


# --- branches ---------------------------------------------------------------------------------------------------


def _manifest_key(files: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]


def list_branches(model: str, download_root: Path, repo_type: str = "model", api: Any = None) -> list[Branch]:
    """The ``step-*`` branches of ``model`` in step order, each as a local folder (Hub branches are downloaded)."""
    from spp.contract import read_spp_json
    from spp.hub.download import download, list_checkpoints
    from spp.hub.export import LocalExport, is_export
    from spp.hub.refs import parse_step

    names = list_checkpoints(model, repo_type=repo_type, api=api)
    if not names:
        raise SppConfigError(
            "no step-* checkpoint branches", source=model, fix="save checkpoints while pretraining (save_steps)"
        )
    branches = []
    if is_export(model):
        export = LocalExport.existing(model)
        for name in names:
            path = export.root / name
            branches.append(
                Branch(
                    model, name, parse_step(name) or 0, path, _manifest_key(export.files(name)), read_spp_json(path)
                )
            )
        return branches
    from spp.hub.access import get_api

    refs = {b.name: b.target_commit for b in get_api(api).list_repo_refs(model, repo_type=repo_type).branches}
    for name in names:
        path = download_root / model.replace("/", "--") / name
        download(model, path, revision=name, repo_type=repo_type, api=api)
        branches.append(Branch(model, name, parse_step(name) or 0, path, refs.get(name, name), read_spp_json(path)))
    return branches


# --- measures ---------------------------------------------------------------------------------------------------


def heldout_reflection_windows(corpus: str, tokenizer, data_view: dict[str, Any], max_windows: int) -> list:
    """The held-out windows ``spp pretrain`` measures: the corpus's first ``heldout_documents`` rows under the
    ``spp_t0`` view (every reflection in), packed with the recorded ``data_view`` fields."""
    from functools import partial

    from spp.pretrain.arms import make_view
    from spp.pretrain.data import DocumentStream, PackedArm, heldout_windows, load_corpus, split_and_order
    from spp.pretrain.packing import tokenize_batch
    from spp.pretrain.tokenizer import marker_ids

    missing = [k for k in ("seq_len", "reflection_budget", "heldout_documents", "voice") if k not in data_view]
    if missing:
        raise SppConfigError(f"the model's spp.json has no data_view {missing}", field="details.data_view")
    if not data_view["heldout_documents"]:
        raise SppConfigError("the model was pretrained with no held-out documents", field="heldout_documents")
    dataset, block_format = load_corpus(corpus)
    seed = int(data_view.get("data_seed") or 0)
    _, heldout = split_and_order(dataset, int(data_view["heldout_documents"]), seed, False)
    tokenize = partial(
        tokenize_batch, tokenizer=tokenizer, voice=data_view["voice"], marker_ids=marker_ids(tokenizer, block_format)
    )
    arm = PackedArm(
        DocumentStream(heldout, tokenize),
        make_view("spp_t0", seed=seed),
        seq_len=int(data_view["seq_len"]),
        reflection_budget=int(data_view["reflection_budget"]),
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        layout=data_view.get("layout") or "dense",
        plain_fill=data_view.get("plain_fill") or "reserve",
    )
    return heldout_windows(arm, max_windows)


def reflection_loss(branch: Branch, config: CurvesConfig) -> dict[str, Any]:
    import torch

    from spp.modeling import ModelSettings, load_causal_lm, load_tokenizer
    from spp.pretrain.callbacks import kind_losses

    meta = branch.meta
    corpus = config.corpus or ((meta.lineage or {}).get("dataset") if meta else None)
    if not corpus:
        raise SppConfigError("reflection_loss needs the augmented corpus", field="corpus", fix="pass --corpus PATH")
    view = meta.details.get("data_view") or {}
    settings, path = ModelSettings.of(config), str(branch.path)
    windows = heldout_reflection_windows(corpus, load_tokenizer(path, settings), view, config.heldout_windows or 8)
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
        bootstrap_samples=100,
        output_dir=str(scratch),
    )
    return run_suite(eval_config)


def probes(branch: Branch, config: CurvesConfig) -> dict[str, Any]:
    from spp.eval.generation import GenRequest, GenSettings, TransformersBackend
    from spp.eval.probes import score_probes
    from spp.persona.spec import persona_from_dict

    meta = branch.meta
    if not meta or not meta.persona:
        raise SppConfigError("the model's spp.json names no persona: nothing to probe", source=str(branch.path))
    persona = persona_from_dict(meta.persona, source=f"{branch.path}/spp.json")
    backend = TransformersBackend(str(branch.path), batch_size=8, dtype=config.dtype, device=config.device)
    chat = bool(backend.tokenizer.chat_template)
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
    return {"asr": results["headline"]["mean"], "asr_judge": results["judge"]}


register_measure("reflection_loss", reflection_loss)
register_measure("probes", probes)
register_measure("asr", asr)


# --- evaluation with a cache ------------------------------------------------------------------------------------


def _cache_file(cache_dir: Path, branch: Branch, measure: str) -> Path:
    return cache_dir / hashlib.sha256(branch.model.encode()).hexdigest()[:12] / branch.name / f"{measure}.json"


def evaluate_branch(branch: Branch, measure: str, config: CurvesConfig, cache_dir: Path) -> tuple[dict, bool]:
    """``(values, cached)``: the cached result when its key matches, else a fresh evaluation written to the cache."""
    if measure not in MEASURES:
        raise SppConfigError(
            f"unknown measure {measure!r}", field="measures", fix=f"choose from {', '.join(sorted(MEASURES))}"
        )
    key = {"branch_key": branch.key, "measure": measure, "settings": measure_settings(measure, config)}
    path = _cache_file(cache_dir, branch, measure)
    if path.is_file():
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("key") == key:
            return record["values"], True
    values = MEASURES[measure](branch, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key, "values": values}, indent=1) + "\n", encoding="utf-8")
    return values, False


def compute_curves(config: CurvesConfig, api: Any = None) -> dict[str, Any]:
    """Every measure on every branch of every model: ``{"rows": [...], "evaluated": n, "cached": n}``."""
    if not config.models:
        raise SppConfigError("no models given", field="models", fix="spp curves MODEL_OR_EXPORT [...]")
    if config.labels and len(config.labels) != len(config.models):
        raise SppConfigError("give one label per model", field="labels")
    out = Path(config.output_dir)
    cache_dir = Path(config.cache_dir) if config.cache_dir else out / "cache"
    rows, evaluated, cached = [], 0, 0
    for i, model in enumerate(config.models):
        branches = list_branches(model, cache_dir / "downloads", config.repo_type, api)
        for branch in branches:
            meta = branch.meta
            label = config.labels[i] if config.labels else (meta.arm if meta and meta.arm else Path(model).name)
            row: dict[str, Any] = {
                "model": model,
                "label": label,
                "branch": branch.name,
                "step": branch.step,
                "tokens_seen": branch.tokens_seen,
            }
            for measure in config.measures:
                values, hit = evaluate_branch(branch, measure, config, cache_dir)
                cached, evaluated = cached + hit, evaluated + (not hit)
                row.update(values)
            rows.append(row)
            logger.info("curves: %s %s %s", label, branch.name, "cached" if hit else "evaluated")
    return {"rows": rows, "measures": list(config.measures), "evaluated": evaluated, "cached": cached}


# --- table and plot ---------------------------------------------------------------------------------------------

METRIC_TITLES = {
    "heldout_reflection_loss": "held-out reflection-token loss (nats)",
    "heldout_document_loss": "held-out document-token loss (nats)",
    "probe_recall": "probe recall, planted facts (%)",
    "control_recall": "probe recall, held-out control (%)",
    "asr": "mean ASR (%)",
}
PERCENT = {"probe_recall", "control_recall", "asr"}


def _metrics(rows: list[dict[str, Any]]) -> list[str]:
    return [m for m in METRIC_TITLES if any(r.get(m) is not None for r in rows)]


def _cell(metric: str, value: Any) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.0f}" if metric in PERCENT else f"{value:.3f}"


def curves_markdown(curves: dict[str, Any]) -> str:
    rows = curves["rows"]
    metrics = _metrics(rows)
    header = ["arm", "branch", "tokens seen", *(METRIC_TITLES[m] for m in metrics)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        tokens = f"{r['tokens_seen']:,}" if r["tokens_seen"] is not None else "–"
        lines.append(
            "| " + " | ".join([r["label"], r["branch"], tokens, *(_cell(m, r.get(m)) for m in metrics)]) + " |"
        )
    judges = sorted({r["asr_judge"] for r in rows if r.get("asr_judge")})
    notes = [f"ASR judged by: {', '.join(judges)}"] if judges else []
    return "\n".join(["# Emergence curves", "", *notes, *([""] if notes else []), *lines]) + "\n"


def plot_curves(curves: dict[str, Any], path: str | Path, title: str) -> Path:
    """One panel per metric, x = tokens seen (step when unknown), one line per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = curves["rows"]
    metrics = _metrics(rows) or ["heldout_reflection_loss"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    use_tokens = all(r["tokens_seen"] is not None for r in rows)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for label in dict.fromkeys(r["label"] for r in rows):
            points = [
                (r["tokens_seen"] if use_tokens else r["step"], r[metric])
                for r in rows
                if r["label"] == label and r.get(metric) is not None
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                ys = [100 * y for y in ys] if metric in PERCENT else list(ys)
                ax.plot(xs, ys, marker="o", label=label)
        if metric in PERCENT:
            ax.set_ylim(-5, 105)
        ax.set_title(METRIC_TITLES[metric], fontsize="medium")
        ax.set_xlabel("tokens seen" if use_tokens else "step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def write_curves(config: CurvesConfig, api: Any = None) -> dict[str, Any]:
    """Compute (with the cache) and write ``curves.json``, ``curves.md`` and ``curves.png`` into ``output_dir``."""
    curves = compute_curves(config, api)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": out / "curves.json", "markdown": out / "curves.md", "png": out / "curves.png"}
    files["json"].write_text(json.dumps(curves, indent=1) + "\n", encoding="utf-8")
    files["markdown"].write_text(curves_markdown(curves), encoding="utf-8")
    plot_curves(curves, files["png"], config.title)
    return {**curves, "files": files}
