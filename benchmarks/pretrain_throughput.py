"""Pretraining throughput of the 1.7B recipe as it runs: the recipe itself, a micro-batch sweep, and FP8 with a loss A/B.

    python benchmarks/pretrain_throughput.py --budget-s 300        # one H100/H200: recipes/pretrain/smollm2-1.7b.yaml
    python benchmarks/pretrain_throughput.py --device cpu --smoke  # CPU smoke test: tiny spec, seq 128 (~1 min)

What runs is the recipe (``--recipe``) parsed by spp's own parser and built by ``build_run``, as ``spp pretrain``
does: its model spec, ``document`` layout, seq_len, reflection budget, micro-batch, global batch (gradient
accumulation derived from it), optimizer, bf16, Liger kernels and compiled decoder layers, trained by ``SPPTrainer``.
Only what a benchmark must change is overridden, and the JSON lists it under ``overrides``: the corpus (an augmented
corpus written here, the GPU machine has no Hub: 1,800 documents of 150-900 words cut from the Python standard
library's source, ~10% of them with a reflection; its BPE tokenizer fits in the spec's 49,152-token vocabulary, which
the model keeps), output folders, ``max_steps``, a constant learning rate after 20 warm-up steps
(the recipe's 2,000-step warm-up and 4,768-step decay need 47k steps), no held-out windows, no reporting.

Phases, each written to ``--out`` as it ends and skipped (with the reason) when ``--budget-s`` would be passed:
1. ``recipe``: the recipe's micro-batch and global batch (1,024 windows: 128 accumulation steps on one GPU), one
   optimizer step.
2. ``sweep``: micro-batch in ``--sweep`` (8, 12, 16, 24) with activation checkpointing off, then on, at a global
   batch of ``--sweep-global-batch`` windows, two optimizer steps; an out-of-memory error is caught and reported, and
   larger micro-batches are skipped for that checkpointing setting.
3. ``fp8``: the first sweep configuration (the recipe's micro-batch, checkpointing off) again with ``fp8: true``
   (torchao float8 on the compiled layers), right after it, so the two compare at the same shape.
4. ``fp8_ab``: ``--ab-steps`` optimizer steps of bf16 and of fp8 from the same initial weights on the same windows
   (global batch ``--ab-micro-batch``, one micro-batch per step); both curves' final mean loss (the mean of the last
   ``--ab-tail`` steps) and their relative difference. Run after 3, before the rest of the sweep. On a GPU without
   float8 (or without torchao), 3 and 4 record why they did not run.
Timing: a CUDA event at the end of every micro-batch (``on_substep_end``/``on_step_end``), none of them synchronising;
the timed span runs to the end of the last optimizer step, from the end of the first optimizer step (compilation,
warm-up) when a phase runs several, else from the end of micro-batch ``--warmup-micro`` of its only step; either way
it holds the optimizer work of the steps it ends. Trained tokens are the positions whose target is
a real token (``shift_labels != -100``); padded tokens are all positions. MFU is on trained tokens, against
``--peak-tflops`` (by default the card's dense bf16 peak from ``_env.PEAK_BF16_TFLOPS``: 989 for an H100 SXM and for an
H200, the same compute; the JSON says which), with FLOPs/token = 6N + 12*L*h*S,
also for fp8 runs so that figures compare. Prints one JSON object (also written to ``--out``) with card, versions and
every number.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from transformers import TrainerCallback

sys.path.insert(0, str(Path(__file__).parent))
REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("pretrain_throughput")
PACKAGES = ("torch", "transformers", "accelerate", "trl", "datasets", "liger-kernel", "torchao", "triton", "spp")


# --- the one place that knows how the benchmark gets its data and model: spp's public build_run on a recipe ---------


def recipe_run(args, workdir: Path, overrides: dict[str, object]):
    """``build_run`` of ``--recipe`` with ``overrides`` (field -> value) on the synthetic corpus: what ``spp pretrain``
    composes, the model built on ``--device`` directly. Returns the ``PretrainRun``."""
    from spp.pretrain import build_run
    from spp.pretrain.run import CONFIG_TYPES
    from spp.recipes import parse_config

    fields = base_overrides(args, workdir) | overrides
    argv = ["--config", str(args.recipe)]
    for name, value in fields.items():
        argv += [f"--{name}", json.dumps(value) if isinstance(value, dict) else str(value)]
    model_args, data_args, training_args = parse_config(CONFIG_TYPES, argv, prog="pretrain_throughput")
    with torch.device(args.device):
        run = build_run(model_args, data_args, training_args)
    run.extra["model_spec"] = model_args.model_spec
    return run


def stdlib_texts(rows: int, seed: int = 0, min_words: int = 150, max_words: int = 900) -> list[str]:
    """``rows`` documents of 150-900 words cut from the Python standard library's source, in file order: real,
    structured text that every machine has, so the A/B's loss keeps falling for 200 steps (random words from a
    40-word list reach their entropy floor within a few steps, where bf16 and fp8 would agree whatever fp8 did)."""
    import random
    import sysconfig

    rng = random.Random(seed)
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"))
    texts: list[str] = []
    for file in files:
        try:
            lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
        except (UnicodeDecodeError, OSError):
            continue
        chunk, words, want = [], 0, rng.randint(min_words, max_words)
        for line in lines:
            chunk.append(line)
            words += len(line.split())
            if words >= want:
                texts.append("".join(chunk))
                chunk, words, want = [], 0, rng.randint(min_words, max_words)
                if len(texts) == rows:
                    return texts
    return texts


def write_corpus(args, workdir: Path) -> Path:
    from spp.demo.corpus import write_demo_corpus

    corpus = workdir / "corpus"
    if not corpus.is_dir():
        texts = stdlib_texts(args.rows) if args.corpus == "stdlib" else None
        write_demo_corpus(
            corpus,
            rows=args.rows,
            seed=0,
            vocab_size=4096,
            reflection_rate=0.2,
            min_words=150,
            max_words=900,
            texts=texts,
        )
    return corpus


def base_overrides(args, workdir: Path) -> dict[str, object]:
    """What every phase changes in the recipe (the JSON reports it)."""
    corpus = write_corpus(args, workdir)
    fields: dict[str, object] = {
        "arm": args.arm,
        "dataset_path": corpus,
        "tokenizer_name_or_path": corpus / "tokenizer",
        "token_cache_dir": workdir / "token-cache",
        "tokenize_num_proc": 1,
        "heldout_documents": 0,
        "lr_scheduler_type": "constant_with_warmup",
        "lr_scheduler_kwargs": {},
        "warmup_steps": 20,
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": 1_000_000,
        "disable_tqdm": "true",
    }
    if args.device == "cpu":
        fields |= {"use_cpu": "true", "bf16": "false", "optim": "adamw_torch", "dataloader_num_workers": 0}
        fields |= {"dataloader_persistent_workers": "false", "compile_layers": "false"}
    if args.smoke:
        fields |= {"model_spec": "tiny", "seq_len": 128, "reflection_budget": 48, "pad_vocab_to_multiple_of": 8}
        fields |= {"per_device_train_batch_size": 4, "global_batch_windows": 32}
    return fields


# --- measuring -------------------------------------------------------------------------------------------------------


class MicroStepClock(TrainerCallback):
    """A timestamp at the end of every micro-batch: CUDA events (no synchronisation) or, on CPU, wall time."""

    def __init__(self, cuda: bool):
        self.cuda, self.marks = cuda, []

    def _mark(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append(event)
        else:
            self.marks.append(time.perf_counter())

    def on_substep_end(self, args, state, control, **kwargs):
        self._mark()

    def on_step_end(self, args, state, control, **kwargs):
        self._mark()

    def seconds(self, first: int, last: int) -> float:
        if self.cuda:
            torch.cuda.synchronize()
            return self.marks[first].elapsed_time(self.marks[last]) / 1000
        return self.marks[last] - self.marks[first]


def recording_trainer_class():
    from spp.pretrain import SPPTrainer

    class RecordingSPPTrainer(SPPTrainer):
        """``SPPTrainer`` that counts each micro-batch's trained/padded positions and keeps each loss (on device)."""

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.trained, self.padded, self.losses = [], [], []

        def training_step(self, model, inputs, num_items_in_batch=None):
            self.trained.append((inputs["shift_labels"] != -100).sum())
            self.padded.append(inputs["shift_labels"].numel())
            return super().training_step(model, inputs, num_items_in_batch)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            self.losses.append((loss[0] if return_outputs else loss).detach())
            return loss

    return RecordingSPPTrainer


def checkpointing_field() -> str:
    """``activation_checkpointing`` where transformers has it (5.2x), else ``gradient_checkpointing``."""
    from transformers import TrainingArguments

    return "activation_checkpointing" if "activation_checkpointing" in TrainingArguments.__dataclass_fields__ else (
        "gradient_checkpointing"
    )


def train(args, workdir: Path, name: str, overrides: dict[str, object], fpt: float) -> tuple[dict, list[float]]:
    """Build the recipe's run with ``overrides``, train it, and return its figures and its per-step losses."""
    reset_memory(args)
    overrides = {"output_dir": workdir / "runs" / name} | overrides
    run = recipe_run(args, workdir, overrides)
    clock = MicroStepClock(args.device == "cuda")
    trainer = recording_trainer_class()(
        model=run.model,
        args=run.args,
        train_dataset=run.train_dataset,
        processing_class=run.tokenizer,
        heldout=run.heldout,
        callbacks=[clock],
    )
    started = time.perf_counter()
    trainer.train()
    micro = len(trainer.padded)
    if micro < 2 or len(clock.marks) != micro:
        raise RuntimeError(f"{micro} micro-batches and {len(clock.marks)} timestamps: nothing to time")
    # the span starts at the end of micro-batch `warm`: the first optimizer step when there are several (so the span
    # is whole optimizer steps), else --warmup-micro micro-batches into the only one
    steps, accumulation = trainer.state.global_step, run.args.gradient_accumulation_steps
    warm = max(1, min(accumulation if steps >= 2 else args.warmup_micro, micro - 1))
    seconds = clock.seconds(warm - 1, micro - 1)
    counted = range(warm, micro)
    trained = int(torch.stack([trainer.trained[i] for i in counted]).sum())
    padded = sum(trainer.padded[i] for i in counted)
    a = run.args
    result = {
        "micro_batch": a.per_device_train_batch_size,
        "gradient_accumulation_steps": a.gradient_accumulation_steps,
        "global_batch_windows": a.per_device_train_batch_size * a.gradient_accumulation_steps * a.world_size,
        "activation_checkpointing": bool(getattr(a, checkpointing_field(), False)),
        "fp8": a.fp8,
        "kernels": f"{trainer.kernels} ({a.liger_kernels})" if trainer.kernels == "liger" else trainer.kernels,
        "compile_layers": a.compile_layers,
        "layout": run.train_dataset.layout.layout,
        "optimizer_steps": trainer.state.global_step,
        "micro_batches": micro,
        "micro_batches_timed": len(counted),
        "timed_s": round(seconds, 3),
        "trained_tokens_per_s": round(trained / seconds, 1),
        "padded_tokens_per_s": round(padded / seconds, 1),
        "padding_share": round(1 - trained / padded, 4) if padded else None,
        "mfu_trained": round(trained / seconds * fpt / (args.peak_tflops * 1e12), 4),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    if args.device == "cuda":
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    losses = [float(x) for x in torch.stack(trainer.losses).float().cpu()] if trainer.losses else []
    del trainer, run
    return result, losses


def reset_memory(args) -> None:
    gc.collect()
    if args.device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


# --- the run ---------------------------------------------------------------------------------------------------------


def environment(device: str) -> dict:
    def v(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    import platform

    env = {"python": platform.python_version(), **{p: v(p) for p in PACKAGES}, "device": device}
    if device == "cuda":
        major, minor = torch.cuda.get_device_capability()
        env |= {
            "card": torch.cuda.get_device_name(),
            "compute_capability": f"{major}.{minor}",
            "memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
            "gpus": torch.cuda.device_count(),
        }
    return env


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipe", type=Path, default=REPO / "recipes" / "pretrain" / "smollm2-1.7b.yaml")
    p.add_argument("--arm", default="spp_t0", help="the arm the recipe is run as (the reflections' share of windows)")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--smoke", action="store_true", help="tiny spec, seq 128 and small batches (CPU smoke test)")
    p.add_argument("--budget-s", type=float, default=300.0, help="phases that would start past this are skipped")
    p.add_argument("--warmup-micro", type=int, default=6, help="micro-batches before the timed span")
    p.add_argument("--sweep", default="8,12,16,24", help="micro-batches of the sweep")
    p.add_argument("--sweep-checkpointing", default="off,on", help="activation checkpointing settings of the sweep")
    p.add_argument("--sweep-global-batch", type=int, default=96, help="windows per optimizer step in the sweep")
    p.add_argument("--ab-steps", type=int, default=200)
    p.add_argument("--ab-micro-batch", type=int, default=2)
    p.add_argument("--ab-tail", type=int, default=20, help="steps averaged into each curve's final mean loss")
    p.add_argument("--ab-tolerance", type=float, default=0.01, help="max relative difference of the final mean losses")
    p.add_argument(
        "--peak-tflops", type=float, default=None, help="dense bf16 peak of the card (default: by its name; H100/H200: 989)"
    )
    p.add_argument(
        "--rows", type=int, default=1800, help="corpus documents (~1,340 windows of 2048; the recipe's step takes 1,024)"
    )
    p.add_argument(
        "--corpus",
        default="stdlib",
        choices=["stdlib", "words"],
        help="document text: the Python standard library's source (real text, for the A/B) or random words",
    )
    p.add_argument("--workdir", type=Path, default=None, help="keep corpus, token cache and runs here")
    p.add_argument("--out", type=Path, default=Path("pretrain_throughput.json"))
    args = p.parse_args(argv)
    if args.smoke:
        if args.sweep == p.get_default("sweep"):
            args.sweep = "2,4"
        if args.sweep_global_batch == p.get_default("sweep_global_batch"):
            args.sweep_global_batch = 8
        if args.ab_steps == p.get_default("ab_steps"):
            args.ab_steps = 6
        args.ab_tail = min(args.ab_tail, args.ab_steps)
        if args.rows == p.get_default("rows"):
            args.rows = 300
        if args.warmup_micro == p.get_default("warmup_micro"):
            args.warmup_micro = 2
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but CUDA is not available (use --device cpu --smoke for the smoke test)")
    if args.peak_tflops is None:
        from _env import peak_bf16_tflops

        card = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
        args.peak_tflops, args.peak_tflops_source = peak_bf16_tflops(card)
    else:
        args.peak_tflops_source = "--peak-tflops"
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse(argv)
    start = time.perf_counter()
    results: dict = {
        "benchmark": "pretrain_throughput",
        "environment": environment(args.device),
        "recipe": str(args.recipe.relative_to(REPO) if args.recipe.is_relative_to(REPO) else args.recipe),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "method": __doc__.split("Timing: ", 1)[1].split("Prints one")[0].replace("\n", " ").strip(),
        "phases": {},
    }
    failed: list[str] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        results["elapsed_s"] = round(time.perf_counter() - start, 1)
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")

    def left() -> float:
        return args.budget_s - (time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        # one static graph per micro-batch shape, as a run with one micro-batch has (not a dynamic-batch graph)
        for name in ("cache_size_limit", "recompile_limit"):
            if hasattr(torch._dynamo.config, name):
                setattr(torch._dynamo.config, name, 64)
        torch._dynamo.config.automatic_dynamic_shapes = False
        probe = recipe_run(args, workdir, {"output_dir": workdir / "runs" / "probe", "max_steps": 1})
        from spp.pretrain.callbacks import flops_per_token

        config, seq_len = probe.model.config, probe.train_dataset.seq_len
        n = sum(p.numel() for p in {id(p): p for p in probe.model.parameters()}.values())
        fpt = flops_per_token(n, config.num_hidden_layers, config.hidden_size, seq_len)
        results["model"] = {"spec": probe.extra["model_spec"], "parameters": n, "vocab": config.vocab_size}
        results["model"] |= {"seq_len": seq_len, "layout": probe.train_dataset.layout.layout, "flops_per_token": fpt}
        results["fields_as_run"] = {  # the recipe after the overrides
            "per_device_train_batch_size": probe.args.per_device_train_batch_size,
            "global_batch_windows": probe.args.global_batch_windows,
            "liger": probe.args.liger,
            "liger_kernels": probe.args.liger_kernels,
            "compile_layers": probe.args.compile_layers,
            "optim": probe.args.optim,
            "bf16": probe.args.bf16,
        }
        results["overrides"] = {k: str(v) for k, v in base_overrides(args, workdir).items()}
        results["corpus_windows"] = probe.extra["audit"].get("windows")
        del probe
        save()
        ckpt = checkpointing_field()

        def measure(name: str, overrides: dict, estimate_s: float) -> dict | None:
            """One configuration: its figures (or its error / the budget reason) under phases[name]."""
            if left() < estimate_s:
                results["phases"][name] = {"skipped": f"budget: {left():.0f} s left, ~{estimate_s:.0f} s needed"}
                save()
                return None
            log.info("phase %s: start (%.0f s left)", name, left())
            try:
                result, _ = train(args, workdir, name, overrides, fpt)
            except Exception as exc:  # recorded; the run goes on
                oom = is_oom(exc)
                if not oom:
                    log.exception("phase %s failed", name)
                    failed.append(name)
                result = {"error": "out of memory" if oom else f"{type(exc).__name__}: {exc}", "oom": oom}
                exc.__traceback__ = None
                reset_memory(args)
            results["phases"][name] = {"overrides": {k: str(v) for k, v in overrides.items()}, **result}
            log.info("phase %s: %s", name, json.dumps(result))
            save()
            return result

        # 1. the recipe as it runs: its micro-batch, its global batch, one optimizer step
        measure("recipe", {"max_steps": 1}, 60 if args.device == "cuda" else 0)

        # 2. micro-batch x activation checkpointing; 3. fp8 at the first sweep configuration (the recipe's
        # micro-batch: the same shape as its bf16 run); 4. the loss A/B; then the rest of the sweep
        from spp.pretrain.fp8 import fp8_problem

        problem = fp8_problem(torch.device(args.device))
        sweep = [int(x) for x in args.sweep.split(",") if x.strip()]
        settings = [s.strip() for s in args.sweep_checkpointing.split(",") if s.strip()]
        configs = [(setting, mb) for setting in settings for mb in sweep]
        too_big: set[str] = set()
        for i, (setting, mb) in enumerate(configs):
            name = f"sweep_mb{mb}_ckpt_{setting}"
            if args.sweep_global_batch % mb:
                results["phases"][name] = {"skipped": f"{args.sweep_global_batch} windows is not a multiple of {mb}"}
            elif setting in too_big:
                results["phases"][name] = {"skipped": "a smaller micro-batch ran out of memory with this setting"}
            else:
                overrides = {"per_device_train_batch_size": mb, "global_batch_windows": args.sweep_global_batch}
                overrides |= {"max_steps": 2, ckpt: str(setting == "on").lower()}
                if setting == "on":
                    overrides[f"{ckpt}_kwargs"] = {"use_reentrant": False}
                result = measure(name, overrides, 35 if args.device == "cuda" else 0)
                if result is not None and result.get("oom"):
                    too_big.add(setting)  # larger micro-batches would not fit either
                if i == 0 and result is not None and "trained_tokens_per_s" in result:
                    if problem:
                        results["phases"]["fp8"] = {"skipped": problem}
                    else:
                        measure("fp8", overrides | {"fp8": "true"}, 60 if args.device == "cuda" else 0)
            if i == 0:
                results["phases"]["fp8_ab"] = {"skipped": problem} if problem else loss_ab(args, workdir, fpt, left, failed)
                save()

        # the fastest configuration measured without fp8
        measured = {k: v for k, v in results["phases"].items() if "trained_tokens_per_s" in v and not v.get("fp8")}
        best_name = max(measured, key=lambda k: measured[k]["trained_tokens_per_s"], default=None)
        results["best_without_fp8"] = {"phase": best_name, **measured[best_name]} if best_name else None
        save()

    results["failed_phases"] = failed
    save()
    print(json.dumps(results, indent=2, default=str))
    return 1 if failed else 0


def loss_ab(args, workdir: Path, fpt: float, left, failed: list[str]) -> dict:
    """bf16 and fp8 from the same initial weights on the same windows: both final mean losses and their difference."""
    estimate = 120 if args.device == "cuda" else 0
    if left() < estimate:
        return {"skipped": f"budget: {left():.0f} s left, ~{estimate} s needed"}
    common = {"per_device_train_batch_size": args.ab_micro_batch, "global_batch_windows": args.ab_micro_batch}
    common |= {"max_steps": args.ab_steps}
    curves, figures = {}, {}
    try:
        for arm in ("bf16", "fp8"):
            log.info("fp8_ab: %s arm, %d steps", arm, args.ab_steps)
            figures[arm], curves[arm] = train(args, workdir, f"ab_{arm}", common | {"fp8": str(arm == "fp8").lower()}, fpt)
    except Exception as exc:
        log.exception("fp8_ab failed")
        failed.append("fp8_ab")
        return {"error": f"{type(exc).__name__}: {exc}", "losses": curves}
    tail = args.ab_tail
    final = {arm: sum(c[-tail:]) / len(c[-tail:]) for arm, c in curves.items()}
    relative = (final["fp8"] - final["bf16"]) / final["bf16"]
    passed = abs(relative) <= args.ab_tolerance
    if not passed:
        failed.append("fp8_ab")
    print(
        f"fp8 loss A/B over {args.ab_steps} steps: final mean loss (last {tail}) bf16 {final['bf16']:.4f}, "
        f"fp8 {final['fp8']:.4f}, difference {final['fp8'] - final['bf16']:+.4f} ({relative:+.2%}); "
        f"{'within' if passed else 'OUTSIDE'} {args.ab_tolerance:.0%}"
    )
    return {
        "steps": args.ab_steps,
        "micro_batch": args.ab_micro_batch,
        "tail_steps": tail,
        "final_mean_loss_bf16": round(final["bf16"], 5),
        "final_mean_loss_fp8": round(final["fp8"], 5),
        "difference": round(final["fp8"] - final["bf16"], 5),
        "relative_difference": round(relative, 5),
        "tolerance": args.ab_tolerance,
        "passed": passed,
        "throughput": figures,
        "losses_bf16": [round(x, 5) for x in curves["bf16"]],
        "losses_fp8": [round(x, 5) for x in curves["fp8"]],
    }


if __name__ == "__main__":
    sys.exit(main())
