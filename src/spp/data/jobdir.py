"""Output folders of chunked jobs (augment, bind-data, score-harm): owned (``spp.ownership``), one writer at a time.

Promises:
- ``JobClaim`` is how a job takes its folder: the ownership rule of every stage (``spp.ownership``: a foreign
  non-empty folder is refused, with or without ``--overwrite``; another stage's folder, or this stage's with another
  recipe, only with ``--overwrite``, which removes exactly what spp wrote there), checked before anything is created;
  then the lock its role needs; then ``--overwrite`` applied under the lock. A run refused before it records the job
  (``job.json``) removes the folders it made and its claim.
- ``JobLock`` is an advisory ``flock`` under ``<dir>/.spp-work/locks/``: ``exclusive`` for a single-process job, a
  merge or an overwrite; ``shared`` on the job plus exclusive on one shard's lock for a shard of an array. A second
  process that would collide exits 2 naming the holder's pid and host. Locks go with the process (``kill -9``
  included), so a killed job never leaves a stale lock. ``flock`` works across nodes on Lustre (``flock`` mount
  option), GPFS and NFSv4; on a file system without it, give every job its own output_dir. ``--overwrite`` keeps
  the lock files (so that no other process can take a fresh lock on a new file while this one holds the old).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from spp.errors import SppConfigError
from spp.generate.base import SERVER_RUNTIME_FIELDS
from spp.ownership import OutputClaim
from spp.recipes import RUNTIME_FIELDS

# Fields every chunked job (augment, bind-data) has that say where and how it runs, not which rows it writes: a
# resume ignores them (each job adds its own, e.g. augment's executor fields).
CHUNKED_JOB_RUNTIME_FIELDS = (
    RUNTIME_FIELDS
    | SERVER_RUNTIME_FIELDS
    | {"num_shards", "shard_index", "merge", "overwrite", "hub_repo_id", "progress"}
)

WORK_DIR = ".spp-work"
LOCK_DIR = "locks"
JOB_FILE = "job.json"  # under WORK_DIR: the job's fingerprint (``spp.data.shards.JobState.claim``)
_Job = TypeVar("_Job", bound="ClaimedJob")


def is_job_dir(path: Path) -> bool:
    """Whether ``path`` holds an spp chunked job (its ``.spp-work/`` folder)."""
    return (path / WORK_DIR).is_dir()


class JobLock:
    """Advisory locks of one job folder; ``release`` (or leaving the ``with``) drops them."""

    def __init__(self, job_dir: Path):
        self.dir = Path(job_dir) / WORK_DIR / LOCK_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self._held: list[int] = []

    def _holders(self) -> str:
        found = []
        for path in sorted(self.dir.glob("*.lock")):
            try:
                info = json.loads(path.read_text() or "{}")
            except (OSError, ValueError):
                continue
            if info.get("pid") and not _free(path):
                found.append(f"pid {info['pid']} on {info.get('host', '?')} ({info.get('role', path.stem)})")
        return ", ".join(found) or "another process"

    def _take(self, name: str, mode: int, role: str) -> None:
        path = self.dir / f"{name}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise SppConfigError(
                f"another process is working on this job: {self._holders()}",
                source=self.dir.parent.parent,
                field="output_dir",
                fix="wait for it to finish (or stop it), or use another output_dir",
            ) from None
        if mode == fcntl.LOCK_EX:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "role": role}).encode())
        self._held.append(fd)

    def exclusive(self, role: str = "job") -> JobLock:
        """The whole job, alone (no shard, merge or overwrite of it may run meanwhile)."""
        self._take("job", fcntl.LOCK_EX, role)
        return self

    def shard(self, shard_index: int, num_shards: int) -> JobLock:
        """One shard of an array: shared on the job, exclusive on the shard."""
        self._take("job", fcntl.LOCK_SH, f"shard {shard_index} of {num_shards}")
        self._take(
            f"shard-{shard_index:05d}-of-{num_shards:05d}", fcntl.LOCK_EX, f"shard {shard_index} of {num_shards}"
        )
        return self

    def release(self) -> None:
        while self._held:
            os.close(self._held.pop())

    def __enter__(self) -> JobLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class JobClaim:
    """This process's claim on a job folder, held until ``release``: a merge or a single-process job alone, a shard
    of an array beside the other shards. ``stage``, ``recipe_hash`` and ``inputs`` are the ownership claim's
    (``spp.ownership``); with ``overwrite`` (and not ``merge``) what spp wrote there earlier goes first."""

    def __init__(
        self,
        output_dir: Path,
        *,
        stage: str,
        recipe_hash: str,
        inputs: list[str] = (),
        shard_index: int,
        num_shards: int,
        merge: bool,
        overwrite: bool,
    ):
        self.output_dir = Path(output_dir)
        self.owner = OutputClaim(
            stage,
            self.output_dir,
            recipe_hash=recipe_hash,
            inputs=inputs,
            overwrite=overwrite and not merge,
            preserve=(f"{WORK_DIR}/{LOCK_DIR}",),
        ).check()  # refused before anything is created
        # what this run creates, so that a run refused before it claims the job leaves nothing behind
        self._made = [p for p in (self.output_dir, self.output_dir / WORK_DIR) if not p.exists()]
        self.lock = JobLock(self.output_dir)
        try:
            if merge:
                self.lock.exclusive("merge")
            elif num_shards == 1:
                self.lock.exclusive("job")
            else:
                self.lock.shard(shard_index, num_shards)
            self.owner.take()  # under the lock: --overwrite removes only what spp wrote (locks kept)
        except BaseException:
            self.lock.release()
            self._remove_made()
            raise

    def release(self, failed: bool = False) -> None:
        """Drop the locks; after a failure that came before the job was recorded, remove the folders this run made
        (only locks and empty folders are in them) and its claim."""
        self.lock.release()
        if failed and not (self.output_dir / WORK_DIR / JOB_FILE).is_file():
            self._remove_made()
        self.owner.release(failed, finished=False)

    def finish(self) -> None:
        """The job's final files are written: the claim's manifest records them."""
        self.owner.finish()

    def _remove_made(self) -> None:
        for path in reversed(self._made):
            if path.name == WORK_DIR:
                shutil.rmtree(path, ignore_errors=True)
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


class ClaimedJob:
    """A job that holds its folder's ``JobClaim`` (``self.claim``) from construction until ``close``; leaving a
    ``with`` block on an error before the job was recorded also removes the folders the run made. A job class
    names its ``stage`` and says what identifies a run (``identity``: recipe hash and input paths)."""

    stage: str
    claim: JobClaim

    @classmethod
    def identity(cls, configs) -> tuple[str, list[str]]:
        """``(recipe hash, input paths)`` of the run ``configs`` describe."""
        raise NotImplementedError

    @classmethod
    def take_claim(cls, configs, **overrides) -> JobClaim:
        """The claim ``configs.job`` asks for (its ``output_dir``, ``shard_index``, ``num_shards``, ``merge``,
        ``overwrite``; ``overrides`` replace some, e.g. a datatrove launcher claiming the whole job)."""
        recipe_hash, inputs = cls.identity(configs)
        job = configs.job
        roles = dict(shard_index=job.shard_index, num_shards=job.num_shards, merge=job.merge, overwrite=job.overwrite)
        return JobClaim(
            Path(job.output_dir), stage=cls.stage, recipe_hash=recipe_hash, inputs=inputs, **(roles | overrides)
        )

    def close(self) -> None:
        """Release the job folder's lock."""
        self.claim.release()

    def __enter__(self: _Job) -> _Job:
        return self

    def __exit__(self, kind, *exc: object) -> None:
        self.claim.release(failed=kind is not None)


def _free(path: Path) -> bool:
    """Whether nobody holds ``path`` (probed with a shared, non-blocking lock that is dropped at once)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


@dataclass
class JobResult:
    """What one run of a sharded job did (``spp augment``, ``score-harm``, ``import-reflections``, ``bind-data``):
    this shard's summary (``None`` on a merge-only or datatrove run), the merged one (``None`` while other shards
    are still to come, or when the run failed), ``failure`` (why it failed; the CLI exits 3 on it), which shard of
    how many ran, and the executor (a datatrove executor reports in its own logs)."""

    output_dir: Path
    shard: dict[str, Any] | None = None
    merged: dict[str, Any] | None = None
    failure: str | None = None
    shard_index: int = 0
    num_shards: int = 1
    executor: str = "spp"


def job_summary(result: JobResult, command: str, describe: Callable[[dict[str, Any]], str], where: str) -> str:
    """What a sharded job's CLI prints about ``result``: this shard's counts (when there are several shards or
    nothing was merged yet), the merged counts and ``where`` the output is, or the command that merges once every
    shard has finished. ``describe`` formats one summary; empty for a datatrove executor (it logs its own)."""
    if result.executor != "spp":
        return ""
    lines = []
    if result.shard is not None and (result.num_shards > 1 or result.merged is None):
        lines.append(f"shard {result.shard_index + 1}/{result.num_shards} done:\n{describe(result.shard)}")
    if result.failure:
        return "\n".join(lines)
    if result.merged is None:
        lines.append(f"when every shard has finished: spp {command} <same options> --merge true "
                     f"(output: {result.output_dir})")  # fmt: skip
    else:
        lines += [f"merged:\n{describe(result.merged)}" if result.num_shards > 1 else describe(result.merged), where]
    return "\n".join(lines)
