"""What ``spp experiment`` prints: the plan (``--dry_run``) and, at the end, where every artifact is."""

from __future__ import annotations

from spp.experiment.config import ExperimentConfig
from spp.experiment.estimate import (
    attack_hours,
    attack_work,
    gpu_hours,
    load_attack_throughput,
    load_throughput,
    pretrain_tokens,
)
from spp.experiment.eval_estimate import eval_work
from spp.experiment.launch import step_commands
from spp.experiment.plan import Step, plan_placeholders
from spp.experiment.state import ExperimentState


def format_plan(plan: list[Step], config: ExperimentConfig) -> str:
    """The plan, one block per step: status, hash, inputs, outputs, launch command and estimates."""
    state, throughput = ExperimentState(config.root), load_throughput(config)
    attack_figure = load_attack_throughput(config)
    what = f"arms {', '.join(config.arms)}"
    if config.models:
        what = "models " + ", ".join(
            f"{label}={'@'.join(filter(None, config.model_of(label)))}" for label in config.arms
        )
    lines = [
        f"experiment {config.name}: {len(plan)} steps, {what}, output {config.output_dir}",
        f"cluster: {config.num_machines} machine(s) x {config.gpus_per_machine} GPU(s), launch: {config.launch}",
        "",
    ]
    by_name, works = {s.name: s for s in plan}, []
    total_tokens = 0
    for number, step in enumerate(plan, 1):
        status = "done (skipped)" if state.is_done(step) else "to run"
        lines.append(f"[{number}/{len(plan)}] {step.name} ({step.stage}) - {status}, hash {step.hash[:12]}")
        if step.inputs:
            lines.append(f"    inputs:  {', '.join(step.inputs)}")
        lines.append("    outputs: " + ", ".join(f"{k}={v}" for k, v in step.outputs.items()))
        lines += [f"    command: {line}" for line in step_commands(step, config)]
        if step.stage == "pretrain" and (tokens := pretrain_tokens(step, config)):
            total_tokens += tokens
            lines.append(f"    tokens:  {tokens:,} ({tokens / 1e9:.1f}B)" + _hours(tokens, throughput, config))
        if step.stage == "attack":
            lines.append("    attack:  " + _attack_line(step, attack_figure))
        if step.stage == "eval":
            attack = by_name.get(f"attack-{step.arm}")
            works.append((step, eval_work(step, attack), attack))
            lines += _eval_lines(works[-1][1])
    if config.models:
        lines += ["", *_models_footer(config, works)]
    else:
        lines += ["", _totals(total_tokens, throughput, config)]
    missing = plan_placeholders(plan, config)
    if missing:
        lines += ["", "needs a value (placeholders left for you to fill in; a run stops on them):"]
        lines += [f"  {line}" for line in missing]
    return "\n".join(lines)


def _eval_lines(work) -> list[str]:
    parts = [f"{name} {n:,}" if n is not None else f"{name} ?" for name, (n, _, _) in work.items.items()]
    origins = sorted({origin for n, origin, _ in work.items.values()})
    calls = ", ".join(f"{judge} {n:,}" + (" (local, free)" if judge == "keyword" else "")
                      for judge, n in work.judge_calls.items())  # fmt: skip
    return [
        f"    eval:    {work.generations:,} generations ({', '.join(parts)}), at most {work.new_tokens:,} new tokens",
        f"             items from: {'; '.join(origins)}",
        f"             judge calls: {calls}",
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


def _attack_line(step: Step, figure: dict | None) -> str:
    work = attack_work(step)
    count = f"{work.behaviors}" if work.behaviors is not None else "unknown (behaviours file not readable yet)"
    text = f"{work.method}, behaviours: {count} x {work.test_cases_per_behavior} test cases x {work.steps} steps"
    if figure is None or figure.get("method") != work.method:
        why = "no attack_throughput_figure" if figure is None else f"figure '{figure['name']}' is not {work.method}"
        return text + f"; device-hours: not measured ({why}; benchmarks/attack_throughput.py measures one)"
    at = (
        f"at figure '{figure['name']}' ({float(figure['test_case_steps_per_s']):,.1f} test-case steps/s, "
        f"{figure.get('hardware')}; {figure.get('model')})"
    )
    hours = attack_hours(work, figure)
    if hours is None:
        each = work.test_cases_per_behavior * work.steps / float(figure["test_case_steps_per_s"]) / 3600
        return f"{text}; {each:,.4f} device-hours per behaviour {at}"
    return f"{text}; {hours:,.2f} device-hours {at}"


def _hours(tokens: int, throughput, config: ExperimentConfig) -> str:
    if throughput is None:
        return "; GPU-hours: no throughput figure recorded (see throughput_file / throughput_figure)"
    hours = gpu_hours(tokens, throughput)
    return f"; {hours:,.0f} GPU-hours, {hours / config.num_gpus:,.1f} h wall-clock on {config.num_gpus} GPU(s)"


def _totals(tokens: int, throughput, config: ExperimentConfig) -> str:
    if not tokens:
        return "pretraining: no token count (max_steps not set)"
    out = f"pretraining, all arms: {tokens:,} tokens ({tokens / 1e9:.1f}B)"
    if throughput is None:
        return out + "; GPU-hours not estimated: no throughput figure recorded"
    fig = throughput.figure
    hours = gpu_hours(tokens, throughput)
    return (
        f"{out}; {hours:,.0f} GPU-hours ({hours / config.num_gpus:,.1f} h on {config.num_gpus} GPUs)\n"
        f"estimate from throughput figure '{throughput.name}' in {config.throughput_file}: "
        f"{throughput.tokens_per_s_per_gpu:,.0f} tokens/s per GPU ({fig.get('hardware')}; {fig.get('setup')})\n"
        f"source: {fig.get('source')}\n"
        "not included: augmentation (generator servers), SFT, eval, attacks (their own lines above), inter-GPU "
        "communication, checkpointing, restarts"
    )


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
