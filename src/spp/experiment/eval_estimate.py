"""What the evaluation steps of a plan will do, before they run: generations, judge calls, downloads, GPU-hours.

``spp experiment --dry_run`` prints these for every eval step (and for a ``models`` experiment, the downloads of the
models under test). Promises:
- Item counts come from the benchmark files when they are on disk (``data_dir`` / ``benchmark_files``, with the
  recipe's ``limit``), else from the authors' protocol (``PROTOCOL_ITEMS``, DESIGN.md), and say which; HarmBench's
  are the attack step's behaviours x test cases. Nothing is fetched from the Hub.
- Judge calls are counted per judge type (``keyword`` runs locally and costs nothing).
- GPU-hours come from a measured figure only (``throughput_file``: ``generate`` for decoding, ``attack`` for the
  optimisation); without one the line says "not measured" and gives a compute lower bound (the work's FLOPs at the
  pretraining figure's measured FLOP rate), labelled as a lower bound: decoding is memory-bound and runs far below
  a training step's rate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp.experiment.config import ExperimentConfig
from spp.experiment.plan import Step

# Items per benchmark in the authors' protocol (DESIGN.md, "The evaluation protocol"), used when the files are not
# on disk yet: AdvBench 520; DAN 16 templates x 100 JBB behaviours; PAP 50; JBB artifacts 5 methods x 100; XSTest's
# 250 safe prompts; OR-Bench hard-1k 1,319; HarmBench direct requests 159.
PROTOCOL_ITEMS = {
    "advbench": 520,
    "dan": 1600,
    "pap": 50,
    "jbb_artifacts": 500,
    "xstest": 250,
    "orbench": 1319,
    "harmbench_direct": 159,
}
HARMBENCH_STANDARD = 159  # standard behaviours of HarmBench's text test set (the authors' PEZ set)


@dataclass
class EvalWork:
    """One eval step's work: ``items[benchmark] = (n, where n came from, new tokens each)``, judge calls by type."""

    items: dict[str, tuple[int | None, str, int]] = field(default_factory=dict)
    judge_calls: dict[str, int] = field(default_factory=dict)

    @property
    def generations(self) -> int:
        return sum(n or 0 for n, _, _ in self.items.values())

    @property
    def new_tokens(self) -> int:
        """At most this many generated tokens (each item may stop early)."""
        return sum((n or 0) * tokens for n, _, tokens in self.items.values())


def _local_count(name: str, recipe: dict[str, Any]) -> int | None:
    """Items of ``name`` read from files on disk, or ``None`` when a required file is not there (never the Hub)."""
    from spp.errors import SppConfigError
    from spp.eval.benchmarks import get_benchmark, parse_file_overrides
    from spp.eval.benchmarks.loading import _paths_for, prepare_benchmark

    spec = get_benchmark(name)
    files = parse_file_overrides(list(recipe.get("benchmark_files") or []))
    data_dir = recipe.get("data_dir") or None
    for role, file_role in spec.files.items():
        paths = _paths_for(spec, role, files, data_dir)
        if not file_role.optional and (not paths or not all(Path(p).is_file() for p in paths)):
            return None
    try:
        options = (recipe.get("benchmark_options") or {}).get(name)
        return len(prepare_benchmark(name, data_dir, files, int(recipe.get("limit") or 0), options=options).items)
    except SppConfigError:
        return None


def attack_behaviors(attack: Step, counted: int | None) -> tuple[int | None, str]:
    """Behaviours an attack step optimises: counted from its file, else the authors' 159 (HarmBench's standard
    behaviours of the text test set) when it selects those, else unknown."""
    if counted is not None:
        return counted, "behaviours from the file"
    recipe = attack.recipe
    if list(recipe.get("functional_categories") or []) == ["standard"] and "test" in str(recipe.get("behaviors")):
        limit = int(recipe.get("limit") or 0)
        return (min(limit, HARMBENCH_STANDARD) if limit else HARMBENCH_STANDARD), "the authors' 159 behaviours"
    return None, "behaviours unknown"


def _judge_type(name: str, recipe: dict[str, Any]) -> str:
    from spp.eval.benchmarks import OVER_REFUSAL, get_benchmark

    over_refusal = get_benchmark(name).kind == OVER_REFUSAL
    if recipe.get("judge_all"):
        return "keyword" if over_refusal else str(recipe["judge_all"])
    spec = (recipe.get("judges") or {}).get(name)
    if spec is None:
        return "keyword" if over_refusal else str(recipe.get("judge", "keyword"))
    return str(spec.get("type", "llm")) if isinstance(spec, dict) else str(spec)


def eval_work(step: Step, attack: Step | None) -> EvalWork:
    """The generations and judge calls of an eval step (``attack``: its attack step, for HarmBench's test cases)."""
    from spp.eval.benchmarks import HEADLINE, get_benchmark

    recipe, work = step.recipe, EvalWork()
    limit = int(recipe.get("limit") or 0)
    for name in recipe.get("benchmarks") or list(HEADLINE):
        spec = get_benchmark(name)
        options = {**spec.options, **((recipe.get("benchmark_options") or {}).get(name) or {})}
        tokens = int(options.get("max_new_tokens") or spec.max_new_tokens or recipe.get("max_new_tokens") or 300)
        n, origin = None, "unknown"
        if name == "harmbench" and attack is not None:
            from spp.experiment.estimate import attack_work

            found = attack_work(attack)
            behaviors, origin = attack_behaviors(attack, found.behaviors)
            if behaviors is not None:
                n, origin = behaviors * found.test_cases_per_behavior, f"HarmBench: {origin} x test cases"
        elif (local := _local_count(name, recipe)) is not None:
            n, origin = local, "files"
        elif name in PROTOCOL_ITEMS:
            n, origin = PROTOCOL_ITEMS[name], "the authors' protocol (files not on disk yet)"
        if n is not None and limit and name != "harmbench":
            n = min(n, limit)
        work.items[name] = (n, origin, tokens)
        judge = _judge_type(name, recipe)
        work.judge_calls[judge] = work.judge_calls.get(judge, 0) + (n or 0)
    return work


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def model_download(model: str, revision: str, release: Any) -> tuple[str, int | None]:
    """``(what, bytes)`` of fetching ``model``: a local model is not downloaded (its size on disk is shown); a Hub
    model's size is estimated from the release registry's shape and dtype when it lists one, else unknown."""
    from spp.hub.export import is_export

    path = Path(model)
    if path.exists():
        folder = path / (revision or "main") if is_export(model) else path
        return "local, not downloaded", folder_size(folder) if folder.is_dir() else None
    if release is not None and release.find(model) is not None:
        _, size, _ = release.find(model)
        shape = (release.weights.get("shapes") or {}).get(size)
        dtype = str(release.weights.get("dtype") or "bfloat16")
        if shape:
            from spp.pretrain.specs import get_model_spec

            params = get_model_spec(shape).num_parameters(release.tokenizer.get("vocab_size"))
            width = {"float32": 4, "bfloat16": 2, "float16": 2}.get(dtype, 2)
            return f"Hub; estimated from {release.name}'s shape {shape} in {dtype} (unverified)", params * width
    return "Hub; size not known offline", None


def size_text(size: int | None) -> str:
    return "size unknown" if size is None else f"{size / 1e9:,.2f} GB"


def _flop_rate(config: ExperimentConfig) -> tuple[float, str] | None:
    """FLOP/s per GPU that the pretraining figure measured (6 N per token), and its name; ``None`` without one."""
    from spp.experiment.estimate import load_throughput
    from spp.pretrain.specs import MODEL_SPECS

    throughput = load_throughput(config)
    if throughput is None or throughput.figure.get("model") not in MODEL_SPECS:
        return None
    params = MODEL_SPECS[throughput.figure["model"]].num_parameters()
    return throughput.tokens_per_s_per_gpu * 6 * params, throughput.name


def load_generate_figure(config: ExperimentConfig) -> dict[str, Any] | None:
    """The figure ``generate_throughput_figure`` of ``throughput_file``'s ``generate`` section, or ``None``."""
    path = Path(config.throughput_file)
    if not path.is_file() and config.recipe_dir:
        path = Path(config.recipe_dir) / config.throughput_file
    name = getattr(config, "generate_throughput_figure", "")
    if not name or not path.is_file():
        return None
    figure = json.loads(path.read_text(encoding="utf-8")).get("generate", {}).get(name)
    return None if figure is None else {"name": name, **figure}


def model_parameters(model: str, revision: str, release: Any) -> int | None:
    """Parameters of the model under test: its local config (no weights read), else the registry's shape."""
    from spp.hub.export import is_export

    path = Path(model)
    folder = path / (revision or "main") if is_export(model) else path
    if (folder / "config.json").is_file():
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        with torch.device("meta"):
            built = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(folder)))
        return sum(p.numel() for p in {id(p): p for p in built.parameters()}.values())
    if release is not None and release.find(model) is not None:
        shape = (release.weights.get("shapes") or {}).get(release.find(model)[1])
        if shape:
            from spp.pretrain.specs import get_model_spec

            return get_model_spec(shape).num_parameters(release.tokenizer.get("vocab_size"))
    return None


def hours_lines(config: ExperimentConfig, works: list[tuple[Step, EvalWork, Step | None]], release: Any) -> list[str]:
    """The GPU-hour lines of the eval and attack steps (see the module docstring)."""
    from spp.experiment.estimate import attack_hours, attack_work, load_attack_throughput

    rate = _flop_rate(config)
    figure, attack_figure = load_generate_figure(config), load_attack_throughput(config)
    floor, measured, unmeasured = 0.0, 0.0, []
    for step, work, attack in works:
        model, revision = step.recipe.get("model", ""), step.recipe.get("revision", "")
        params = model_parameters(model, revision, release)
        if figure is not None:
            measured += work.new_tokens / float(figure["tokens_per_s_per_gpu"]) / 3600
        else:
            unmeasured.append(f"{step.name} generation")
            if rate is not None and params:
                floor += 2 * params * work.new_tokens / rate[0] / 3600
        if attack is not None:
            found = attack_work(attack)
            found.behaviors = attack_behaviors(attack, found.behaviors)[0]
            hours = attack_hours(found, attack_figure) if attack_figure is not None else None
            if hours is not None:
                measured += hours
            else:
                unmeasured.append(f"{attack.name} optimisation")
                n_optim = int(attack.recipe.get("num_optim_tokens") or 20)
                if rate is not None and params and found.test_case_steps:
                    floor += 4 * params * n_optim * found.test_case_steps / rate[0] / 3600
    lines = []
    if figure is not None:
        lines.append(f"generation at figure '{figure['name']}' ({float(figure['tokens_per_s_per_gpu']):,.0f} new "
                     f"tokens/s per GPU, {figure.get('hardware')}; {figure.get('model')})")  # fmt: skip
    if measured:
        lines.append(f"GPU-hours from measured figures: {measured:,.2f}")
    if unmeasured:
        bound = (
            f"at least {floor:,.2f} GPU-hours: a compute lower bound (the work's FLOPs at the {rate[1]} training "
            "figure's measured FLOP rate; decoding is memory-bound and runs far below it)"
            if rate is not None and floor
            else "no lower bound either (no pretraining throughput figure, or the models' size is unknown)"
        )
        lines.append(f"not measured: {', '.join(unmeasured)}; {bound}")
        lines.append(
            "measure them: benchmarks/generate_throughput.py --model_spec smollm2-1.7b --device cuda (a `generate` "
            "figure) and benchmarks/attack_throughput.py (an `attack` figure), added to benchmarks/throughput.json and "
            "named by generate_throughput_figure / attack_throughput_figure"
        )
    lines.append("not included: the LLM judges' servers (judge calls above), downloads, model loading")
    return lines
