"""Add the figures of one ``benchmarks/gpu_check.sh`` run to ``throughput.json``, and write the run's README.

    python benchmarks/record_throughput.py --results benchmarks/measured/2026-12-10-h100 \
        --base benchmarks/throughput.json --write benchmarks/throughput.json

Every figure is copied from the JSON the benchmarks wrote in ``--results`` (``pretrain_throughput.json``,
``sft_kernels.json``, ``sft_baseline.json``); nothing is typed in. Entries (named ``<card>-<what>-<date>``):
- ``pretrain``: the recipe as it runs, the fastest configuration without fp8 and the fp8 run (with the loss A/B's
  final mean losses). ``tokens_per_s_per_gpu`` counts every position of the windows (what ``spp experiment
  --dry_run`` multiplies by steps x windows x seq_len); ``trained_tokens_per_s_per_gpu`` only non-padding targets;
  ``mfu`` is on trained tokens.
- ``sft``: each SFT run, tokens and trained (assistant) tokens per second.
A phase that failed or was skipped adds nothing. ``--write`` gets ``--base`` plus these entries (an entry of the same
name is replaced); ``--results``/README.md lists what the run measured, from the same files.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

SFT_FILES = {"sft_kernels.json": "sft-kernels", "sft_baseline.json": "sft-trl"}


def card_slug(card: str) -> str:
    """``NVIDIA H100 80GB HBM3`` -> ``h100``; other names lower-cased with dashes."""
    found = re.search(r"\b([a-z]{1,2}\d{2,4})\b", card.lower())
    return found.group(1) if found else re.sub(r"[^a-z0-9]+", "-", card.lower()).strip("-") or "unknown"


def software(env: dict) -> str:
    names = ("torch", "transformers", "accelerate", "trl", "datasets", "liger-kernel", "torchao", "triton")
    return ", ".join(f"{n} {env[n]}" for n in names if env.get(n)) + (f", cuda {env['cuda']}" if env.get("cuda") else "")


def setup_of(phase: dict, result: dict) -> str:
    ckpt = "on" if phase.get("activation_checkpointing") else "off"
    precision = "bf16 autocast" if result.get("fields_as_run", {}).get("bf16") else "fp32"
    return (
        f"SPPTrainer on {result.get('recipe')}: {phase.get('layout')} layout, micro-batch {phase['micro_batch']} x "
        f"{phase['gradient_accumulation_steps']} accumulation steps ({phase['global_batch_windows']} windows per "
        f"optimizer step), kernels {phase.get('kernels')}, compile_layers {phase.get('compile_layers')}, activation "
        f"checkpointing {ckpt}, fp8 {phase.get('fp8')}, seq {result.get('model', {}).get('seq_len')}, {precision}, "
        "synthetic augmented corpus"
    )


def pretrain_entries(result: dict, source: str, date: str) -> dict[str, dict]:
    env, phases = result["environment"], result.get("phases", {})
    slug, card = card_slug(env.get("card", "cpu")), env.get("card", "cpu")
    picks = {"recipe": phases.get("recipe")}
    best = result.get("best_without_fp8") or {}
    if best.get("phase") and best["phase"] != "recipe":
        picks["best-bf16"] = phases.get(best["phase"])
    picks["fp8"] = phases.get("fp8")
    entries = {}
    for what, phase in picks.items():
        if not phase or "trained_tokens_per_s" not in phase:
            continue
        ckpt = "-ckpt" if phase.get("activation_checkpointing") else ""
        name = f"{slug}-spp-{what}-mb{phase['micro_batch']}{ckpt}-{date}"
        entry = {
            "model": result.get("model", {}).get("spec"),
            "tokens_per_s_per_gpu": phase["padded_tokens_per_s"],
            "trained_tokens_per_s_per_gpu": phase["trained_tokens_per_s"],
            "padding_share": phase.get("padding_share"),
            "mfu": phase["mfu_trained"],
            "mfu_peak_tflops": result.get("config", {}).get("peak_tflops"),
            "peak_memory_gib": phase.get("peak_memory_gib"),
            "setup": setup_of(phase, result),
            "hardware": f"1x {card}",
            "software": software(env),
            "date": date,
            "source": f"benchmarks/pretrain_throughput.py (measured by spp; {source}, phase {best.get('phase') if what == 'best-bf16' else what}), "
            f"{phase['micro_batches_timed']} micro-batches timed after warm-up",
        }
        ab = phases.get("fp8_ab") or {}
        if what == "fp8" and "final_mean_loss_fp8" in ab:
            entry["loss_ab"] = {k: ab[k] for k in ("steps", "final_mean_loss_bf16", "final_mean_loss_fp8")}
            entry["loss_ab"] |= {"relative_difference": ab["relative_difference"], "passed": ab["passed"]}
        entries[name] = entry
    return entries


def sft_entries(result: dict, what: str, source: str, date: str) -> dict[str, dict]:
    if "tokens_per_s" not in result:
        return {}
    card = result.get("device", "cpu")
    name = f"{card_slug(card)}-{what}-mb{result['micro_batch']}-{date}"
    kernels = (
        f"Liger {','.join(result.get('liger_kernels') or []) or 'off'}, compile_layers {result.get('compile_layers')}, "
        f"attention {result.get('attn_implementation')}, gradient checkpointing "
        f"{'on' if result.get('gradient_checkpointing') else 'off'}"
    )
    return {
        name: {
            "model": result.get("model"),
            "tokens_per_s_per_gpu": result["tokens_per_s"],
            "trained_tokens_per_s_per_gpu": result["trained_tokens_per_s"],
            "mfu": result.get("mfu_trained"),
            "mfu_peak_tflops": result.get("peak_tflops"),
            "peak_memory_gib": result.get("peak_memory_gib"),
            "setup": f"spp sft path (SPPSFTTrainer, assistant-only loss, BFD padding-free packing), {kernels}, "
            f"seq {result['seq_len']}, micro-batch {result['micro_batch']}, bf16 {result.get('bf16')}, synthetic chats",
            "hardware": f"1x {card}",
            "software": result.get("environment", "").split("versions: ", 1)[-1],
            "date": date,
            "source": f"benchmarks/sft_throughput.py (measured by spp; {source}), {result['steps_timed']} timed steps",
        }
    }


def readme(results: Path, date: str, pretrain: dict | None, sft: dict[str, dict], commit: str) -> str:
    lines = [f"# GPU measurements, {date}", ""]
    env = (pretrain or {}).get("environment", {})
    lines += [
        f"Written by `benchmarks/gpu_check.sh` and `benchmarks/record_throughput.py` from the run itself (commit "
        f"{commit}); card {env.get('card', 'see gpu.txt')}, {software(env) or 'versions in gpu.txt'}.",
        "",
        "| file | what |",
        "|---|---|",
    ]
    for file in sorted(p.name for p in results.iterdir() if p.is_file() and p.name != "README.md"):
        lines.append(f"| `{file}` | {DESCRIPTIONS.get(file, '')} |")
    if pretrain:
        lines += ["", "| pretraining phase | trained tokens/s | padded tokens/s | MFU (trained) | peak GiB |", "|---|---|---|---|---|"]
        for name, phase in pretrain.get("phases", {}).items():
            if "trained_tokens_per_s" in phase:
                lines.append(
                    f"| {name} | {phase['trained_tokens_per_s']:,.0f} | {phase['padded_tokens_per_s']:,.0f} | "
                    f"{phase['mfu_trained']:.1%} | {phase.get('peak_memory_gib', '')} |"
                )
            else:
                lines.append(f"| {name} | {phase.get('error') or phase.get('skipped') or phase.get('final_mean_loss_fp8', '')} | | | |")
        ab = pretrain.get("phases", {}).get("fp8_ab", {})
        if "final_mean_loss_fp8" in ab:
            lines += [
                "",
                f"FP8 loss A/B, {ab['steps']} steps: final mean loss bf16 {ab['final_mean_loss_bf16']}, fp8 "
                f"{ab['final_mean_loss_fp8']}, relative difference {ab['relative_difference']:+.2%} "
                f"({'within' if ab['passed'] else 'outside'} {ab['tolerance']:.0%}).",
            ]
    for file, result in sft.items():
        if "tokens_per_s" in result:
            lines.append(
                f"\n`{file}`: {result['tokens_per_s']:,.0f} tokens/s, {result['trained_tokens_per_s']:,.0f} trained "
                f"tokens/s, MFU {result.get('mfu_trained', 0):.1%}, peak {result.get('peak_memory_gib') or 'n/a'} GiB "
                f"(attention {result.get('attn_implementation')}, Liger {result.get('liger_kernels')}, compile_layers "
                f"{result.get('compile_layers')})."
            )
    return "\n".join(lines) + "\n"


DESCRIPTIONS = {
    "gpu.txt": "card, driver and versions",
    "gpu_check.log": "everything the run printed, with the elapsed time of each part",
    "pretrain_throughput.json": "benchmarks/pretrain_throughput.py: recipe, sweep, fp8, fp8 loss A/B",
    "sft_kernels.json": "benchmarks/sft_throughput.py --kernels: SFT with Liger FLCE, compiled layers, spp_varlen",
    "sft_baseline.json": "benchmarks/sft_throughput.py: SFT through TRL's own path (sdpa, TRL's fused LM head)",
    "throughput.json": "benchmarks/throughput.json with this run's entries added (copy it over the repository's)",
    "attack_throughput.json": "benchmarks/attack_throughput.py (PEZ on the 1.7B spec)",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", type=Path, required=True, help="the folder gpu_check.sh wrote")
    p.add_argument("--base", type=Path, default=Path(__file__).parent / "throughput.json")
    p.add_argument("--write", type=Path, required=True, help="where throughput.json with the new entries goes")
    p.add_argument("--date", default=None, help="default: the date in the results folder's name")
    p.add_argument("--name", default=None, help="the run's folder under benchmarks/measured/ (default: --results')")
    p.add_argument("--commit", default="unknown")
    args = p.parse_args(argv)
    name = args.name or args.results.name
    date = args.date or (re.match(r"\d{4}-\d{2}-\d{2}", name) or [None])[0]
    if not date:
        p.error("--date is needed when the run's name does not start with YYYY-MM-DD")
    source = f"benchmarks/measured/{name}"
    figures = json.loads(args.base.read_text())
    pretrain_file = args.results / "pretrain_throughput.json"
    pretrain = json.loads(pretrain_file.read_text()) if pretrain_file.is_file() else None
    added: dict[str, dict] = {}
    if pretrain:
        added |= {f"pretrain/{k}": v for k, v in pretrain_entries(pretrain, f"{source}/pretrain_throughput.json", date).items()}
    sft = {}
    for file, what in SFT_FILES.items():
        path = args.results / file
        if path.is_file():
            sft[file] = json.loads(path.read_text())
            added |= {f"sft/{k}": v for k, v in sft_entries(sft[file], what, f"{source}/{file}", date).items()}
    for key, entry in added.items():
        section, name = key.split("/", 1)
        figures.setdefault(section, {})[name] = entry
        print(f"{section}: {name}: {entry['tokens_per_s_per_gpu']:,.0f} tokens/s, {entry['trained_tokens_per_s_per_gpu']:,.0f} trained")
    args.write.parent.mkdir(parents=True, exist_ok=True)
    args.write.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    (args.results / "README.md").write_text(readme(args.results, date, pretrain, sft, args.commit))
    print(f"{len(added)} entries added to {args.write}; {args.results / 'README.md'} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
