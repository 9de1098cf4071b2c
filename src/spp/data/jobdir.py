"""Output folders of chunked jobs: never written into when foreign, never deleted unless spp's, one writer at a time.

Promises:
- ``check_output_dir`` refuses (``SppConfigError``, exit 2) a non-empty folder that holds no spp job (no
  ``.spp-work/``), with or without ``--overwrite``; nothing in it is touched.
- ``JobLock`` is an advisory ``flock`` under ``<dir>/.spp-work/locks/``: ``exclusive`` for a single-process job, a
  merge or an overwrite; ``shared`` on the job plus exclusive on one shard's lock for a shard of an array. A second
  process that would collide exits 2 naming the holder's pid and host. Locks go with the process (``kill -9``
  included), so a killed job never leaves a stale lock. ``flock`` works across nodes on Lustre (``flock`` mount
  option), GPFS and NFSv4; on a file system without it, give every job its own output_dir.
- ``clear_job_dir`` removes an spp job's files, keeping only the lock files (so that no other process can take a
  fresh lock on a new file while this one holds the old).
- ``JobClaim`` is how a job takes its folder: the checks above, the lock its role needs, ``--overwrite`` applied
  under the lock; a run refused before it records the job (``job.json``) removes the folders it made.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import socket
from pathlib import Path
from typing import TypeVar

from spp.errors import SppConfigError
from spp.generate.base import SERVER_RUNTIME_FIELDS
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


def check_output_dir(path: Path, overwrite: bool = False) -> None:
    """Refuse a non-empty folder that is not an spp job (see the module promises)."""
    if not path.exists():
        return
    if not path.is_dir():
        raise SppConfigError("is a file, not a folder", source=path, field="output_dir", fix="choose another path")
    if is_job_dir(path):
        return
    entries = sorted(p.name for p in path.iterdir())
    if entries:
        action = "--overwrite deletes only folders that spp's jobs wrote; " if overwrite else ""
        raise SppConfigError(
            f"this folder is not empty ({len(entries)} entries, e.g. {entries[:3]}) and holds no spp job "
            f"(no {WORK_DIR}/): {action}nothing was changed",
            source=path,
            field="output_dir",
            fix="choose a new or empty output_dir",
        )


def clear_job_dir(path: Path) -> None:
    """Delete everything an spp job wrote in ``path`` except ``.spp-work/locks/`` (call with the job lock held)."""
    if not is_job_dir(path):
        raise SppConfigError(f"holds no spp job (no {WORK_DIR}/)", source=path, field="output_dir")
    for entry in path.iterdir():
        if entry.name == WORK_DIR:
            for inner in entry.iterdir():
                if inner.name != LOCK_DIR:
                    shutil.rmtree(inner) if inner.is_dir() and not inner.is_symlink() else inner.unlink()
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


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
    of an array beside the other shards. With ``overwrite`` (and not ``merge``) the job's earlier files go first."""

    def __init__(self, output_dir: Path, *, shard_index: int, num_shards: int, merge: bool, overwrite: bool):
        self.output_dir = Path(output_dir)
        check_output_dir(self.output_dir, overwrite)
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
            if overwrite and not merge and is_job_dir(self.output_dir):
                clear_job_dir(self.output_dir)
        except BaseException:
            self.lock.release()
            raise

    @classmethod
    def of(cls, job) -> JobClaim:
        """The claim a job config asks for (its ``output_dir``, ``shard_index``, ``num_shards``, ``merge``,
        ``overwrite``)."""
        return cls(
            Path(job.output_dir),
            shard_index=job.shard_index,
            num_shards=job.num_shards,
            merge=job.merge,
            overwrite=job.overwrite,
        )

    def release(self, failed: bool = False) -> None:
        """Drop the locks; after a failure that came before the job was recorded, remove the folders this run made
        (only locks and empty folders are in them)."""
        self.lock.release()
        if failed and self._made and not (self.output_dir / WORK_DIR / JOB_FILE).is_file():
            for path in reversed(self._made):
                if path.name == WORK_DIR:
                    shutil.rmtree(path, ignore_errors=True)
                elif path.is_dir() and not any(path.iterdir()):
                    path.rmdir()


class ClaimedJob:
    """A job that holds its folder's ``JobClaim`` (``self.claim``) from construction until ``close``; leaving a
    ``with`` block on an error before the job was recorded also removes the folders the run made."""

    claim: JobClaim

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
