"""Checks that a training launch is what it says, before anything is built or written.

Measured with accelerate 1.16 and transformers 5.25 on a CPU-only machine (see recipes/README.md):

- ``accelerate launch --config_file recipes/accelerate/ddp.yaml --num_processes N`` (or ``--multi_gpu
  --num_processes N``) starts N processes; with ``use_cpu: true`` in the recipe they join one gloo group (the
  2-process CPU test uses this line); without it, on a machine without GPUs, each process trains alone, on all the
  data, into the same ``output_dir``. ``torchrun --standalone --nproc_per_node N`` behaves the same way.
- ``accelerate launch --cpu --num_processes N`` (and a ``MULTI_CPU`` config) starts ONE process: accelerate runs
  multi-CPU jobs through ``mpirun`` only. Nothing in that process can tell that more were asked for.
- An FSDP (or DeepSpeed) config whose processes run on CPU trains plain data parallel, without a word.

``check_launch`` turns the detectable cases into ``SppConfigError`` (exit 2): processes that were launched as a group
(``WORLD_SIZE`` > 1) but train alone, and a sharded-training request (FSDP/DeepSpeed, from the accelerate config or
the recipe) on a CPU device. Every training stage (pretrain, SFT) calls it first.

``exit_process`` ends a process that joined a group (the ``spp`` command and ``python -m spp`` call it; a script of
one's own that trains under a launcher ends with ``raise SystemExit(exit_process(0))``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading

from spp.errors import SppConfigError

TWO_CPU_PROCESSES = (
    "accelerate launch --config_file recipes/accelerate/ddp.yaml --num_processes 2 -m spp pretrain "
    "--config recipes/pretrain/tiny.yaml --use_cpu true"
)


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def check_launch(args) -> None:
    """Refuse a launch whose processes do not form one group, or that asks for FSDP/DeepSpeed on CPU.

    ``args``: the stage's ``TrainingArguments`` (reading ``world_size`` sets up the device and the process group)."""
    launched = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if launched > 1 and args.world_size != launched:
        raise SppConfigError(
            f"{launched} processes were launched (WORLD_SIZE={launched}) but this one trains as a group of "
            f"{args.world_size}: they did not form one group, so each would train on all the data into the same "
            "output_dir",
            field="use_cpu",
            fix="on a machine without GPUs set use_cpu: true so the processes join over gloo "
            f"(e.g. {TWO_CPU_PROCESSES}); on GPUs check that every process sees a GPU",
        )
    fsdp = _env_true("ACCELERATE_USE_FSDP") or bool(getattr(args, "fsdp", None))
    deepspeed = _env_true("ACCELERATE_USE_DEEPSPEED") or bool(getattr(args, "deepspeed", None))
    if (fsdp or deepspeed) and args.device.type == "cpu":
        what = "FSDP" if fsdp else "DeepSpeed"
        raise SppConfigError(
            f"the launch asks for {what} but trains on CPU, where it would run as plain data parallel (every "
            "process holding the whole model) instead of sharding",
            field="use_cpu",
            fix=f"run {what} configs (recipes/accelerate/fsdp2.yaml, zero3.yaml) on GPUs; on CPU launch data "
            f"parallel: {TWO_CPU_PROCESSES}",
        )


def exit_process(code: int) -> int:
    """End this process with exit status ``code`` after a run in a ``torch.distributed`` group: destroy the group
    (torch's documented shutdown), run the ``atexit`` handlers (logging, trackers) and join the non-daemon threads as
    interpreter shutdown does, flush stdout and stderr, then ``os._exit(code)``. In a process without a group it
    returns ``code`` and changes nothing (tests call ``spp.cli.main`` in-process).

    Why not a plain exit: a gloo worker thread may still be releasing the tensors of the last collective, which
    takes the GIL, when the interpreter finalizes; the thread is then killed inside a destructor and the process
    aborts (``terminate called without an active exception``, SIGABRT, exit -6) after a run that completed and saved,
    and the launcher reports the whole job failed (pytorch/pytorch#190489, open; destroying the group does not join
    those threads). Measured with torch 2.13 on 2 cores under load, two-process gloo jobs: 3 of 30 plain exits
    aborted, 0 of 30 this way."""
    dist = sys.modules.get("torch.distributed")  # never imports torch: a process that has no group has not
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return code
    dist.destroy_process_group()
    atexit._run_exitfuncs()
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or gone: nothing left to lose
            stream.flush()
    os._exit(code)
