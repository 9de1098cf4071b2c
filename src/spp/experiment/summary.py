"""What ``spp experiment`` prints: the plan (``--dry_run``) and, at the end, where every artifact is.

The plan is a table, one row per step (status, hash, the steps it depends on, its work in tokens or generations,
its GPU-hours, its outputs under the run folder) and a totals row over every stage; below it, what the table has no
room for: the launch commands, each attack and eval step's work in detail, where every estimate comes from, the
downloads of a ``models`` experiment and the values left for the user to fill in. GPU-hours come from measured
figures only (``spp.experiment.estimate``); a step without one says "not measured", one without GPU work "-".
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from spp.experiment.config import ExperimentConfig
from spp.experiment.estimate import (
    attack_hours,
    attack_work,
    gpu_hours,
    load_attack_throughput,
    load_throughput,
    pretrain_tokens,
)
from spp.experiment.eval_estimate import attack_behaviors, eval_work, load_generate_figure
from spp.experiment.launch import step_commands
from spp.experiment.plan import Step, plan_placeholders
from spp.experiment.state import ExperimentState

# Stages that do GPU work and have no measured figure in a plan (their GPU-hours are not estimated).
UNESTIMATED = {"augment": "generator servers", "score": "harm scorer", "bind": "generator servers", "sft": "SFT"}
COLUMNS = ("#", "step", "stage", "status", "hash", "depends on", "tokens / generations", "GPU-hours", "outputs")


@dataclass
class Row:
    """One step's row: what it computes (``work``), its GPU-hours (``hours``: measured, else ``None``) and why there
    is no number (``unmeasured``: empty when it has one or needs no GPU)."""

    step: Step
    work: str = "-"
    tokens: int = 0
    generations: int = 0
    hours: float | None = None
    unmeasured: str = ""


def format_plan(plan: list[Step], config: ExperimentConfig) -> str:
    """The plan: the header, the table with its totals row, then the details (module docstring)."""
    state = ExperimentState(config.root)
    throughput, attack_figure = load_throughput(config), load_attack_throughput(config)
    generate = load_generate_figure(config)
    by_name, works = {s.name: s for s in plan}, []
    rows, details = [], {"attack": [], "eval": []}
    for step in plan:
        row = Row(step)
        if step.stage == "pretrain" and (tokens := pretrain_tokens(step, config)):
            row.tokens, row.work = tokens, _tokens(tokens)
            row.hours = gpu_hours(tokens, throughput) if throughput is not None else None
            row.unmeasured = "" if throughput is not None else "no throughput figure"
        elif step.stage == "attack":
            row.work, row.hours, line = _attack_row(step, attack_figure)
            row.unmeasured = "" if row.hours is not None else "no attack figure"
            details["attack"].append(f"  {step.name}: {line}")
        elif step.stage == "eval":
            attack = by_name.get(f"attack-{step.arm}")
            work = eval_work(step, attack)
            works.append((step, work, attack))
            row.generations, row.work = work.generations, f"{work.generations:,} generations"
            row.hours = work.new_tokens / float(generate["tokens_per_s_per_gpu"]) / 3600 if generate else None
            row.unmeasured = "" if generate else "no generate figure"
            details["eval"] += _eval_lines(step.name, work)
        elif step.stage in UNESTIMATED:
            row.unmeasured = f"not estimated ({UNESTIMATED[step.stage]})"
        rows.append(row)
    lines = [
        f"experiment {config.name}: {len(plan)} steps, {_what(config)}, output {config.output_dir}",
        f"cluster: {config.num_machines} machine(s) x {config.gpus_per_machine} GPU(s), launch: {config.launch}",
        "",
        *_table(rows, state, config),
        "",
        f"outputs are under {config.output_dir}/; status 'done' steps are skipped by a run",
        _hours_note(rows),
    ]
    lines += _commands(plan, config)
    for kind, found in details.items():
        if found:
            lines += ["", f"{kind} work:", *found]
    lines += ["", *_estimates(rows, throughput, config, works)]
    missing = plan_placeholders(plan, config)
    if missing:
        lines += ["", "needs a value (placeholders left for you to fill in; a run stops on them):"]
        lines += [f"  {line}" for line in missing]
    return "\n".join(lines)


def _what(config: ExperimentConfig) -> str:
    if not config.models:
        return f"arms {', '.join(config.arms)}"
    return "models " + ", ".join(f"{label}={'@'.join(filter(None, config.model_of(label)))}" for label in config.arms)


def _table(rows: list[Row], state: ExperimentState, config: ExperimentConfig) -> list[str]:
    """The rows as aligned text columns, with a rule under the header and a totals row."""
    cells = [COLUMNS]
    for number, row in enumerate(rows, 1):
        step = row.step
        status = "done" if state.is_done(step) else "to run"
        hours = _hours(row.hours) if row.hours is not None else ("not measured" if row.unmeasured else "-")
        if row.unmeasured.startswith("not estimated"):
            hours = "not estimated"
        outputs = ", ".join(f"{role}={_under(path, config)}" for role, path in step.outputs.items())
        deps = _depends(step.inputs)
        cells.append((str(number), step.name, step.stage, status, step.hash[:12], deps, row.work, hours, outputs))
    cells.append(("", "total", "", "", "", "", _total_work(rows), _total_hours(rows), ""))
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    text = ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip() for cell in cells]
    rule = "  ".join("-" * w for w in widths)
    return [text[0], rule, *text[1:-1], rule, text[-1]]


def _tokens(n: int) -> str:
    """``100.0B tokens``, ``12.3M tokens`` or ``245,760 tokens``."""
    for scale, unit in ((1e9, "B"), (1e6, "M")):
        if n >= scale:
            return f"{n / scale:,.1f}{unit} tokens"
    return f"{n:,} tokens"


def _hours(hours: float) -> str:
    return f"{hours:,.0f}" if hours >= 100 else f"{hours:,.2f}"


def _depends(inputs: list[str]) -> str:
    """The steps a step waits for; more than two of one stage as ``eval-* x5`` (the table stays narrow)."""
    groups: dict[str, list[str]] = {}
    for name in inputs:
        groups.setdefault(name.split("-")[0], []).append(name)
    parts = [f"{stage}-* x{len(names)}" if len(names) > 2 else ", ".join(names) for stage, names in groups.items()]
    return ", ".join(parts) or "-"


def _under(path: str, config: ExperimentConfig) -> str:
    """``path`` relative to the run folder when it lies in it (the header names the folder)."""
    relative = os.path.relpath(path, config.output_dir)
    return path if relative.startswith("..") else relative


def _total_work(rows: list[Row]) -> str:
    tokens, generations = sum(r.tokens for r in rows), sum(r.generations for r in rows)
    parts = [_tokens(tokens)] if tokens else []
    return "; ".join(parts + ([f"{generations:,} generations"] if generations else [])) or "-"


def _unmeasured(rows: list[Row]) -> dict[str, int]:
    """Steps per stage that do GPU work without a measured figure."""
    missing: dict[str, int] = {}
    for row in rows:
        if row.hours is None and row.unmeasured:
            missing[row.step.stage] = missing.get(row.step.stage, 0) + 1
    return missing


def _total_hours(rows: list[Row]) -> str:
    """The measured GPU-hours of every step; ``>=`` when some step has no figure (listed under the table)."""
    measured = sum(r.hours for r in rows if r.hours is not None)
    if not measured:
        return "not measured" if _unmeasured(rows) else "-"
    return (">= " if _unmeasured(rows) else "") + _hours(measured)


def _hours_note(rows: list[Row]) -> str:
    measured = sum(r.hours for r in rows if r.hours is not None)
    missing = _unmeasured(rows)
    text = f"GPU-hours, every stage: {_hours(measured) if measured else 0} from measured figures"
    if not missing:
        return text
    return text + "; not measured: " + ", ".join(f"{stage} x{n}" for stage, n in missing.items()) + " (see estimates)"


def _commands(plan: list[Step], config: ExperimentConfig) -> list[str]:
    found = [(step.name, line) for step in plan for line in step_commands(step, config)]
    if not found:
        return []
    lines = ["", "commands (what those steps run; with launch: print, run them, then rerun spp experiment):"]
    return lines + [f"  {name}: {line}" for name, line in found]


def _eval_lines(name: str, work) -> list[str]:
    parts = [f"{bench} {n:,}" if n is not None else f"{bench} ?" for bench, (n, _, _) in work.items.items()]
    origins = sorted({origin for n, origin, _ in work.items.values()})
    calls = ", ".join(f"{judge} {n:,}" + (" (local, free)" if judge == "keyword" else "")
                      for judge, n in work.judge_calls.items())  # fmt: skip
    return [
        f"  {name}: {work.generations:,} generations ({', '.join(parts)}), at most {work.new_tokens:,} new tokens",
        f"      items from: {'; '.join(origins)}",
        f"      judge calls: {calls}",
    ]


def _attack_row(step: Step, figure: dict | None) -> tuple[str, float | None, str]:
    """``(work, device-hours or None, the detail line)`` of an attack step."""
    work = attack_work(step)
    counted = work.behaviors
    work.behaviors, origin = attack_behaviors(step, counted)  # the eval's estimate counts the same ones
    count = "unknown (behaviours file not readable yet)" if work.behaviors is None else f"{work.behaviors}"
    if counted is None and work.behaviors is not None:
        count += f" ({origin}; the file is not readable yet)"
    text = f"{work.method}, behaviours: {count} x {work.test_cases_per_behavior} test cases x {work.steps} steps"
    shown = f"{work.behaviors if work.behaviors is not None else '?'} x {work.test_cases_per_behavior} x {work.steps}"
    if figure is None or figure.get("method") != work.method:
        why = "no attack_throughput_figure" if figure is None else f"figure '{figure['name']}' is not {work.method}"
        return shown, None, text + f"; device-hours: not measured ({why}; benchmarks/attack_throughput.py measures one)"
    at = (
        f"at figure '{figure['name']}' ({float(figure['test_case_steps_per_s']):,.1f} test-case steps/s, "
        f"{figure.get('hardware')}; {figure.get('model')})"
    )
    hours = attack_hours(work, figure)
    if hours is None:
        each = work.test_cases_per_behavior * work.steps / float(figure["test_case_steps_per_s"]) / 3600
        return shown, None, f"{text}; {each:,.4f} device-hours per behaviour {at}"
    return shown, hours, f"{text}; {hours:,.2f} device-hours {at}"


def _estimates(rows: list[Row], throughput, config: ExperimentConfig, works) -> list[str]:
    """Where the table's figures come from (pretraining), and a ``models`` experiment's downloads and estimate."""
    lines = []
    tokens = sum(r.tokens for r in rows)
    if any(r.step.stage == "pretrain" for r in rows) and not tokens:
        lines.append("  pretraining: no token count (max_steps not set)")
    elif tokens:
        lines += [f"  {line}" for line in _pretrain_lines(tokens, throughput, config)]
    unestimated = sorted({UNESTIMATED[r.step.stage] for r in rows if r.step.stage in UNESTIMATED})
    if unestimated:
        lines.append(f"  not estimated: {', '.join(unestimated)}; nor inter-GPU communication, checkpointing, restarts")
    lines = ["estimates:", *lines] if lines else []
    if config.models:
        lines += ["", *_models_footer(config, works)] if lines else _models_footer(config, works)
    return lines


def _pretrain_lines(tokens: int, throughput, config: ExperimentConfig) -> list[str]:
    out = f"pretraining, all arms: {tokens:,} tokens ({tokens / 1e9:.1f}B)"
    if throughput is None:
        return [out + "; GPU-hours not estimated: no throughput figure recorded (throughput_file / throughput_figure)"]
    fig, hours = throughput.figure, gpu_hours(tokens, throughput)
    return [
        f"{out}; {hours:,.0f} GPU-hours ({hours / config.num_gpus:,.1f} h on {config.num_gpus} GPUs)",
        f"estimate from throughput figure '{throughput.name}' in {config.throughput_file}: "
        f"{throughput.tokens_per_s_per_gpu:,.0f} tokens/s per GPU ({fig.get('hardware')}; {fig.get('setup')})",
        f"source: {fig.get('source')}",
    ]


def _models_footer(config: ExperimentConfig, works) -> list[str]:
    """Downloads, totals and GPU-hours of a ``models`` experiment."""
    from spp.experiment.eval_estimate import hours_lines, model_download, size_text

    release = None
    if config.release:
        from spp.releases import load_release

        release = load_release(config.release)
    lines, total = ["downloads (model files; the Hub cache keeps them for reruns):"], 0
    for label in config.arms:
        model, revision = config.model_of(label)
        where, size = model_download(model, revision, release)
        total += size or 0 if not where.startswith("local") else 0
        lines.append(f"  {label:<10} {model}@{revision or 'main'}: {size_text(size)} ({where})")
    judges = sorted({str(j.get("model")) for step, _, _ in works for j in (step.recipe.get("judges") or {}).values()
                     if isinstance(j, dict) and j.get("type") == "classifier" and j.get("model")})  # fmt: skip
    lines += [f"  judge      {j}: in-process classifier, size not known offline" for j in judges]
    lines.append(f"  total of the sizes known: {size_text(total)}")
    generations = sum(w.generations for _, w, _ in works)
    calls: dict[str, int] = {}
    for _, work, _ in works:
        for judge, n in work.judge_calls.items():
            calls[judge] = calls.get(judge, 0) + n
    lines += [
        "",
        f"all models: {generations:,} generations, at most {sum(w.new_tokens for _, w, _ in works):,} new tokens; "
        "judge calls: " + ", ".join(f"{j} {n:,}" for j, n in calls.items()),
    ]
    if release is not None:
        lines.append(f"release registry {release.path}: {release.verified.split('.')[0]} (see its `verified` line)")
    return lines + ["estimate:", *(f"  {line}" for line in hours_lines(config, works, release))]


def format_locations(plan: list[Step], config: ExperimentConfig) -> str:
    """Where everything is, after a run."""
    root = config.root
    lines = ["", "where everything is:"]
    for step in plan:
        for role, path in step.outputs.items():
            lines.append(f"  {step.name:<20} {role:<22} {path}")
    lines += [
        f"  {'report':<20} {'markdown':<22} {root / 'comparison' / 'comparison.md'}",
        f"  {'report':<20} {'chart':<22} {root / 'comparison' / 'comparison.png'}",
        f"  {'provenance':<20} {'dataset->model->results':<22} {root / 'provenance.json'}",
        f"  {'state':<20} {'per-step hashes':<22} {root / 'experiment_state.json'}",
    ]
    return "\n".join(lines)
