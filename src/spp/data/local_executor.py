"""datatrove's ``LocalPipelineExecutor`` with every task in a watched process of its own: a task that dies never hangs.

Why: datatrove's local executor runs tasks in a ``multiprocess`` pool (``Pool.imap_unordered``). A pool worker killed
by a signal (``kill -9``, the OOM killer, a segfault) is replaced, but the task it held is never answered, so
``imap_unordered`` waits forever; and a dependent executor (``depends=``) polls the missing completion markers every
two minutes, forever. ``SppLocalExecutor`` starts one process per task (at most ``workers`` at once) and waits on the
processes themselves: a task process that ends without its result is a dead task.

Promises: each task runs datatrove's own ``_run_for_rank`` (logs, stats, completion markers as datatrove writes
them); the tasks that can finish do; then a dead task raises ``TaskDied`` naming it (rank, signal, log file), and a
task that raised re-raises its error in this process. A dependency that did not complete raises at once instead of
waiting for it.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datatrove.executor import LocalPipelineExecutor
from datatrove.utils.logging import logger
from datatrove.utils.stats import PipelineStats


@dataclass(frozen=True)
class DeadTask:
    """A task whose process ended without a result: its rank and exit code (negative: the signal)."""

    rank: int
    exitcode: int | None

    def how(self) -> str:
        if self.exitcode is not None and self.exitcode < 0:
            try:
                name = signal.Signals(-self.exitcode).name
            except ValueError:
                name = f"signal {-self.exitcode}"
            return f"was killed by {name}"
        return f"exited with code {self.exitcode} without finishing"


class TaskDied(RuntimeError):
    """Tasks of a local datatrove run died (see ``DeadTask``); the message names each task, its log and the fix."""

    def __init__(self, dead: list[DeadTask], world_size: int, logging_dir: str):
        self.dead = dead
        logs = Path(logging_dir) / "logs"
        names = "; ".join(
            f"task {d.rank} of {world_size} {d.how()} (log: {logs / f'task_{d.rank:05d}.log'})" for d in dead
        )
        super().__init__(
            f"{names}. Nothing was merged. The other tasks ran to the end; rerun the same command: completed tasks "
            "are skipped and a killed task continues from the chunks it committed"
        )


def _run_task(executor: LocalPipelineExecutor, rank: int, local_rank: int, conn: Any) -> None:
    """A task's process: datatrove's own run of the rank, its stats or its error sent back through ``conn``."""
    try:
        conn.send(("ok", executor._run_for_rank(rank, local_rank)))
    except BaseException as err:  # the parent re-raises it
        try:
            conn.send(("error", err))
        except Exception:  # an error that cannot be pickled goes as its text
            conn.send(("error", RuntimeError(f"task {rank}: {type(err).__name__}: {err}")))
    finally:
        conn.close()


class SppLocalExecutor(LocalPipelineExecutor):
    """``LocalPipelineExecutor`` whose tasks run in watched processes (see the module docstring)."""

    def run(self):
        if self.depends:
            if not self.depends._launched:
                logger.info(f'Launching dependency job "{self.depends}"')
                self.depends.run()
            missing = self.depends.get_incomplete_ranks(skip_completed=True)
            if missing:  # datatrove would wait for them forever
                raise TaskDied(
                    [DeadTask(r, None) for r in missing], self.depends.world_size, str(self.depends.logging_dir.path)
                )
        self._launched = True
        ranks = self.get_incomplete_ranks(range(self.local_rank_offset, self.local_rank_offset + self.local_tasks))
        if not ranks:
            logger.info(f"Not doing anything as all {self.local_tasks} tasks have already been completed.")
            return PipelineStats()
        self.save_executor_as_json()
        stats = self._run_ranks(ranks)
        with self.logging_dir.open("stats.json", "wt") as statsfile:
            stats.save_to_disk(statsfile)
        logger.success(stats.get_repr(f"All {self.local_tasks} tasks"))
        return stats

    def _run_ranks(self, ranks: list[int]) -> PipelineStats:
        import multiprocess
        from multiprocess.connection import wait

        ctx = multiprocess.get_context(self.start_method)
        pending, free = list(ranks), list(range(self.workers))
        running: dict[int, tuple[Any, int, int, Any]] = {}  # sentinel -> (process, rank, local rank, connection)
        results: dict[int, tuple[str, Any]] = {}
        dead: list[DeadTask] = []
        while pending or running:
            while pending and free:
                rank, local = pending.pop(0), free.pop(0)
                receiver, sender = ctx.Pipe(duplex=False)
                process = ctx.Process(target=_run_task, args=(self, rank, local, sender), name=f"task-{rank}")
                process.start()
                sender.close()
                logger.info(f"task {rank} started (pid {process.pid})")
                running[process.sentinel] = (process, rank, local, receiver)
            receivers = {id(r): (rank, r) for _, rank, _, r in running.values() if rank not in results}
            for ready in wait([*running, *(r for _, r in receivers.values())]):
                if ready in running:
                    continue
                rank, receiver = receivers[id(ready)]
                try:
                    results[rank] = receiver.recv()
                except EOFError:  # the process died before it sent anything
                    results[rank] = ("died", None)
            for sentinel in [s for s, (p, *_) in running.items() if not p.is_alive()]:
                process, rank, local, receiver = running.pop(sentinel)
                process.join()
                if rank not in results and receiver.poll():
                    results[rank] = receiver.recv()
                receiver.close()
                free.append(local)
                if results.get(rank, ("died",))[0] == "died":
                    results[rank] = ("died", None)
                    dead.append(DeadTask(rank, process.exitcode))
                    logger.error(f"task {rank} {dead[-1].how()}")
        if dead:
            raise TaskDied(sorted(dead, key=lambda d: d.rank), self.world_size, str(self.logging_dir.path))
        errors = [value for kind, value in results.values() if kind == "error"]
        if errors:
            raise errors[0]
        return sum((value for kind, value in results.values() if kind == "ok"), start=PipelineStats())
