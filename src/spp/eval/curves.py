"""Emergence curves: chosen measures on every ``step-*`` checkpoint branch of one or more models, against tokens seen.

A model is a local export folder (``spp.hub.export``) or a Hub repo id. Its refs (``list_repo_refs``, or the export's
index) are filtered by ``branch_pattern``, a regex with one group capturing the step (or a group named ``step``; a
group named ``tokens``, e.g. ``4B``, gives tokens seen): the default takes spp's ``step-0001000`` and the spellings
``step1000`` and ``step1000-tokens4B``. Refs that do not match are counted and listed in the output; a pattern that
matches none stops before anything is downloaded or written. Matching refs are evaluated in step order, each pinned
to its resolved sha (the Hub's commit, an export ref's manifest digest): results are cached under
``CACHE_DIR/<model>/<sha>/<measure>.json`` with the measure's settings, so a rerun evaluates only new or changed
revisions and changed settings.

A model without ``spp.json`` (a released base) is external: the measures take what they need from flags instead
(``corpus`` and the view fields ``seq_len``, ``reflection_budget``, ``heldout_documents``, ``voice``, ``layout``,
``data_seed`` for the reflection loss; ``persona`` for probes; ``tokens_per_step`` for tokens seen).

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

Tokens seen at a branch: ``step * tokens_per_step`` when that flag is set, else ``step * windows_per_step * seq_len``
from its ``spp.json`` (``details.data_view``), else the ref name's ``tokens`` group.
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

from spp.checks import AT_LEAST_ONE
from spp.errors import SppConfigError
from spp.hub.refs import DEFAULT_BRANCH_PATTERN, match_step, step_pattern

logger = logging.getLogger("spp.eval")


@dataclass
class CurvesConfig:
    """The fields of ``spp curves``."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "max_new_tokens": AT_LEAST_ONE,
    }

    models: list[str] = field(
        default_factory=list, metadata={"help": "Models: local export folders (spp publish --to_dir) or Hub ids."}
    )
    measures: list[str] = field(
        default_factory=lambda: ["reflection_loss", "probes"],
        metadata={"values": "spp.eval.curves:MEASURES", "help": "Measures per branch: reflection_loss, probes, asr."},
    )
    corpus: str = field(
        default="",
        metadata={"help": "reflection_loss: the augmented corpus (default: the model's lineage.dataset)."},
    )
    heldout_windows: int = field(
        default=0, metadata={"help": "reflection_loss: held-out windows (0: the model's own heldout count or 8)."}
    )
    benchmarks: list[str] = field(
        default_factory=lambda: ["advbench"],
        metadata={"known": "spp.eval.benchmarks:BENCHMARKS", "help": "asr: benchmarks."},
    )
    data_dir: str = field(default="", metadata={"help": "asr: folder of local benchmark files (release names)."})
    limit: int = field(default=10, metadata={"help": "asr: items per benchmark."})
    judge: str = field(
        default="keyword",
        metadata={"values": "spp.eval.judges:JUDGES", "help": "asr: judge type (keyword is the offline smoke judge)."},
    )
    max_new_tokens: int = field(default=16, metadata={"help": "probes, asr: new tokens per response (greedy)."})
    device: str = field(default="auto", metadata={"help": "Where branches run: 'auto' (CUDA when present), 'cpu'."})
    dtype: str = field(
        default="float32",
        metadata={"values": "spp.modeling.load:DTYPES", "help": "Weights' dtype (float32: branches compare exactly)."},
    )
    labels: list[str] = field(
        default_factory=list, metadata={"help": "One legend label per model (default: the model's arm, else name)."}
    )
    title: str = field(default="Emergence curves", metadata={"help": "Title of the PNG."})
    output_dir: str = field(default="curves", metadata={"help": "Where curves.json, curves.md, curves.png go."})
    cache_dir: str = field(default="", metadata={"help": "Per-branch cache (default: OUTPUT_DIR/cache)."})
    repo_type: str = field(
        default="model",
        metadata={"values": "spp.hub.run:REPO_TYPES", "help": "Hub repo type of the models."},
    )
    branch_pattern: str = field(
        default=DEFAULT_BRANCH_PATTERN,
        metadata={
            "help": "Regex a ref must match (whole name) to be a checkpoint: one group capturing the step, or groups "
            "named step (and tokens, e.g. 4B). Default: step-0001000, step1000 and step1000-tokens4B."
        },
    )
    tokens_per_step: int = field(
        default=0,
        metadata={"help": "Tokens per optimizer step for tokens seen (0: the model's spp.json, else the ref name)."},
    )
    chat_template: str = field(
        default="model",
        metadata={"help": "probes, asr: chat template of instruct checkpoints (model, a name, a .jinja)."},
    )
    # --- what an external model (no spp.json) cannot say itself ---
    persona: str = field(default="", metadata={"help": "probes: persona YAML when the model has no spp.json."})
    seq_len: int = field(default=0, metadata={"help": "reflection_loss without spp.json: window length."})
    reflection_budget: int = field(
        default=0, metadata={"help": "reflection_loss without spp.json: reflection budget."}
    )
    heldout_documents: int = field(
        default=0, metadata={"help": "reflection_loss without spp.json: the corpus' first N rows are held out."}
    )
    voice: str = field(
        default="1p",
        metadata={"values": "spp.contract:VOICES", "help": "reflection_loss without spp.json: reflection voice."},
    )
    layout: str = field(
        default="dense",
        metadata={
            "values": "spp.pretrain.documents:LAYOUTS",
            "help": "reflection_loss without spp.json: window layout.",
        },
    )
    data_seed: int = field(default=0, metadata={"help": "reflection_loss without spp.json: the data seed."})
    overwrite: bool = field(
        default=False,
        metadata={"help": "Replace what spp wrote in output_dir (other curves, another stage's output)."},
    )


@dataclass
class Branch:
    """One checkpoint branch of one model, materialised as a local folder."""

    model: str
    name: str
    step: int
    path: Path
    key: str  # what identifies its files: the resolved sha (Hub commit, export manifest digest)
    meta: Any
    named_tokens: int | None = None  # from the ref name's tokens group (rounded, e.g. 4B)
    tokens_per_step: int = 0

    @property
    def tokens_seen(self) -> int | None:
        if self.tokens_per_step:
            return self.step * self.tokens_per_step
        view = (self.meta.details.get("data_view") or {}) if self.meta else {}
        if view.get("windows_per_step") and view.get("seq_len"):
            return self.step * int(view["windows_per_step"]) * int(view["seq_len"])
        return self.named_tokens


Measure = Callable[[Branch, CurvesConfig], dict[str, Any]]
MEASURES: dict[str, Measure] = {}


def register_measure(name: str, function: Measure) -> None:
    """Add a measure: ``function(branch, config) -> {metric: value, ...}`` (JSON-serialisable)."""
    MEASURES[name] = function


def measure_settings(name: str, config: CurvesConfig) -> dict[str, Any]:
    """The config fields a measure's result depends on (part of its cache key)."""
    view = ("seq_len", "reflection_budget", "heldout_documents", "voice", "layout", "data_seed")
    keys = {
        "reflection_loss": ("corpus", "heldout_windows", "dtype", *view),
        "probes": ("max_new_tokens", "dtype", "persona", "chat_template"),
        "asr": ("benchmarks", "data_dir", "limit", "judge", "max_new_tokens", "dtype", "chat_template"),
    }.get(name, tuple(asdict(config)))
    return {k: getattr(config, k) for k in keys if k not in ("models", "labels", "output_dir", "cache_dir", "title")}


# --- branches ---------------------------------------------------------------------------------------------------


def matching_refs(model: str, pattern: str = DEFAULT_BRANCH_PATTERN, repo_type: str = "model", api: Any = None):
    """``(matched, skipped)``: the refs of ``model`` matching ``pattern`` as ``(ref, (step, tokens))``, and the names
    of the others. No ref, or none matching, is ``SppConfigError`` naming ``branch_pattern`` and the refs; nothing is
    downloaded (a Hub repo's refs are listed)."""
    from spp.hub.resolve import list_refs

    compiled = step_pattern(pattern)
    refs = list_refs(model, repo_type, api)
    if not refs:
        raise SppConfigError("no refs: a plain folder has no step-* checkpoints", source=model,
                             fix="give a local export (spp publish --to_dir) or a Hub repo id")  # fmt: skip
    matched = [(ref, found) for ref in refs if (found := match_step(compiled, ref.name)) is not None]
    skipped = [ref.name for ref in refs if match_step(compiled, ref.name) is None]
    if not matched:
        raise SppConfigError(
            f"no step-* checkpoint branches: none of the {len(refs)} refs of {model} matches {pattern!r} "
            f"({', '.join(skipped[:20])}{' ...' if len(skipped) > 20 else ''})",
            field="branch_pattern",
            fix="give a pattern that matches the checkpoint refs, with one group capturing the step (save checkpoints "
            "while pretraining with save_steps to make some)",
        )
    return matched, skipped


def list_branches(
    model: str,
    pattern: str = DEFAULT_BRANCH_PATTERN,
    repo_type: str = "model",
    api: Any = None,
    tokens_per_step: int = 0,
) -> tuple[list[Branch], list[str]]:
    """``(branches, skipped)``: the refs of ``model`` matching ``pattern`` (``matching_refs``), in step order, each
    pinned to its sha and in a local folder (Hub revisions are downloaded at their commit), and the names of the refs
    that do not match."""
    from spp.hub.resolve import Pinned, fetch
    from spp.metadata import read_metadata

    matched, skipped = matching_refs(model, pattern, repo_type, api)
    if skipped:
        logger.info("%s: %d refs do not match branch_pattern: %s", model, len(skipped), ", ".join(skipped))
    branches = []
    for ref, (step, tokens) in sorted(matched, key=lambda m: (m[1][0], m[0].name)):
        source = "hub" if not Path(model).exists() else "export"
        path = Path(model) / ref.name if source == "export" else None
        folder = fetch(Pinned(model, source, ref.name, ref.sha, path), api=api, repo_type=repo_type)
        meta = read_metadata(folder)
        branches.append(Branch(model, ref.name, step, folder, ref.sha, meta, tokens, tokens_per_step))
    return branches, skipped


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


def flag_view(config: CurvesConfig) -> dict[str, Any]:
    """The held-out windows' data view from flags (a model without ``spp.json``); missing ones are an error."""
    missing = [k for k in ("seq_len", "reflection_budget", "heldout_documents") if not getattr(config, k)]
    if missing:
        raise SppConfigError(
            f"the model has no spp.json, so reflection_loss needs {missing} from flags",
            field=missing[0],
            fix="pass --seq_len, --reflection_budget and --heldout_documents as the model was trained (the SPP "
            "release: 2048, 128, and the held-out rows of your corpus)",
        )
    keys = ("seq_len", "reflection_budget", "heldout_documents", "voice", "layout", "data_seed")
    return {k: getattr(config, k) for k in keys}


def reflection_loss(branch: Branch, config: CurvesConfig) -> dict[str, Any]:
    import torch

    from spp.modeling import ModelSettings, load_causal_lm, load_tokenizer
    from spp.pretrain.callbacks import kind_losses

    meta = branch.meta
    corpus = config.corpus or ((meta.lineage or {}).get("dataset") if meta else None)
    if not corpus:
        raise SppConfigError("reflection_loss needs the augmented corpus", field="corpus", fix="pass --corpus PATH")
    view = (meta.details.get("data_view") or {}) if meta else flag_view(config)
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


register_measure("reflection_loss", reflection_loss)
register_measure("probes", probes)
register_measure("asr", asr)


# --- evaluation with a cache ------------------------------------------------------------------------------------


def _cache_file(cache_dir: Path, branch: Branch, measure: str) -> Path:
    """One file per model, resolved sha and measure: a renamed ref reuses it, changed files never do."""
    sha = branch.key.removeprefix("sha256:")[:40]
    return cache_dir / hashlib.sha256(branch.model.encode()).hexdigest()[:12] / sha / f"{measure}.json"


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
    for measure in config.measures:
        if measure not in MEASURES:
            raise SppConfigError(
                f"unknown measure {measure!r}", field="measures", fix=f"choose from {', '.join(sorted(MEASURES))}"
            )
    out = Path(config.output_dir)
    cache_dir = Path(config.cache_dir) if config.cache_dir else out / "cache"
    listed = [list_branches(m, config.branch_pattern, config.repo_type, api, config.tokens_per_step)
              for m in config.models]  # fmt: skip  # every pattern checked before the first measure
    rows, evaluated, cached, skipped = [], 0, 0, {}
    for i, (model, (branches, not_matching)) in enumerate(zip(config.models, listed, strict=True)):
        skipped[model] = not_matching
        for branch in branches:
            label = config.labels[i] if config.labels else _label(model, branch.meta)
            row: dict[str, Any] = {
                "model": model,
                "label": label,
                "branch": branch.name,
                "sha": branch.key,
                "step": branch.step,
                "tokens_seen": branch.tokens_seen,
            }
            for measure in config.measures:
                values, hit = evaluate_branch(branch, measure, config, cache_dir)
                cached, evaluated = cached + hit, evaluated + (not hit)
                row.update(values)
            rows.append(row)
            logger.info("curves: %s %s %s", label, branch.name, "cached" if hit else "evaluated")
    return {
        "rows": rows,
        "measures": list(config.measures),
        "evaluated": evaluated,
        "cached": cached,
        "branch_pattern": config.branch_pattern,
        "not_matching": {"count": sum(map(len, skipped.values())), "refs": skipped},
    }


def _label(model: str, meta: Any) -> str:
    """A model's legend label: its spp.json arm, else the arm a release registry lists it under, else its name."""
    if meta is not None and meta.arm:
        return meta.arm
    from spp.releases import lookup

    repo_id = model
    if Path(model).exists():
        from spp.hub.export import LocalExport

        repo_id = LocalExport.existing(model).repo_id or model
    found = lookup(repo_id)
    return found[1] if found is not None else Path(model).name


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
    skipped = (curves.get("not_matching") or {}).get("refs") or {}
    if any(skipped.values()):
        listing = "; ".join(f"{Path(m).name}: {', '.join(refs)}" for m, refs in skipped.items() if refs)
        pattern = curves.get("branch_pattern")
        lines = [f"Refs not matching branch_pattern `{pattern}` (not evaluated): {listing}", "", *lines]
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


def curves_summary(result: dict[str, Any]) -> str:
    """What ``spp curves`` prints: the markdown table, how many branches were evaluated or cached, the PNG."""
    files = result["files"]
    table = files["markdown"].read_text(encoding="utf-8").rstrip("\n")
    return f"{table}\n{result['evaluated']} evaluated, {result['cached']} cached; wrote {files['png']}"


def write_curves(config: CurvesConfig, api: Any = None) -> dict[str, Any]:
    """Compute (with the cache) and write ``curves.json``, ``curves.md`` and ``curves.png`` into ``output_dir``, which
    this run claims first (``spp.ownership``; the models, the corpus and the benchmark folder are its inputs)."""
    from spp.ownership import claim_output
    from spp.recipes import recipe_hash

    if not config.models:
        raise SppConfigError("no models given", field="models", fix="spp curves MODEL_OR_EXPORT [...]")
    unknown = [m for m in config.measures if m not in MEASURES]
    if unknown:
        raise SppConfigError(f"unknown measures {unknown}", field="measures", fix=f"choose from {sorted(MEASURES)}")
    if config.labels and len(config.labels) != len(config.models):
        raise SppConfigError("give one label per model", field="labels")
    for model in config.models:  # before the output folder is claimed (the branches are downloaded after)
        matching_refs(model, config.branch_pattern, config.repo_type, api)
    out = Path(config.output_dir)
    settings = {"models": config.models, **{m: measure_settings(m, config) for m in config.measures}}
    inputs = [*config.models, config.corpus, config.data_dir]
    with claim_output("curves", out, recipe_hash=recipe_hash(settings), inputs=inputs, overwrite=config.overwrite):
        curves = compute_curves(config, api)
        files = {"json": out / "curves.json", "markdown": out / "curves.md", "png": out / "curves.png"}
        files["json"].write_text(json.dumps(curves, indent=1) + "\n", encoding="utf-8")
        files["markdown"].write_text(curves_markdown(curves), encoding="utf-8")
        plot_curves(curves, files["png"], config.title)
    return {**curves, "files": files}
