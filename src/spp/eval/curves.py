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
(``corpus`` and the view fields ``heldout_documents``, ``voice``, ``layout``, ``data_seed`` for the reflection loss,
with ``seq_len`` and ``reflection_budget`` read from the corpus's ``spp.json`` unless it records none; ``persona``
for probes; ``tokens_per_step`` for tokens seen). A ``--seq_len`` or ``--reflection_budget`` that differs from what
the model or the corpus records is refused (exit 2).

Measures (a registry: ``register_measure``):

- ``reflection_loss``: next-token loss on the reflection tokens (and the document tokens) of held-out windows, built
  by the builder ``spp pretrain`` uses (``spp.pretrain.heldout``: the first ``heldout_documents`` rows of the
  corpus, every one with its reflection at the arm's recorded placement, packed with the model's recorded
  ``data_view``): the callback's measure, recomputed per checkpoint.
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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from spp.checks import AT_LEAST_ONE
from spp.errors import SppConfigError
from spp.eval.curve_measures import asr, probes, reflection_loss
from spp.eval.curve_report import curves_markdown, plot_curves
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
    seq_len: int = field(
        default=0,
        metadata={"help": "reflection_loss without spp.json: window length (0: the corpus's spp.json records it)."},
    )
    reflection_budget: int = field(
        default=0,
        metadata={"help": "reflection_loss without spp.json: reflection budget (0: the corpus's spp.json records it)."},
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


# --- the built-in measures (spp.eval.curve_measures) -------------------------------------------------------------

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
