"""Per-step checkpoint branches, uploaded from a Trainer callback in the background.

Released pretraining suites (Pythia, OLMo, SmolLM) put each intermediate checkpoint on its own branch. transformers'
``hub_strategy`` does not: it pushes checkpoint folders to one branch and skips a push while the previous one runs.
``HubCheckpointCallback`` instead, on every save:

1. hard-links the checkpoint's model files into ``OUTPUT_DIR/.hub_staging/step-NNNNNNN`` with a checkpoint card and
   ``spp.json`` (cheap, and immune to ``save_total_limit`` deleting the checkpoint meanwhile);
2. queues it for one background thread, which uploads the queue in order (FIFO: none skipped, none reordered),
   retrying 429/5xx with exponential backoff. At most ``max_pending`` staged checkpoints wait behind the one being
   uploaded: a save that would exceed it blocks training (with a warning) until the oldest has landed, so a slow
   Hub cannot fill the disk with staged trees that ``save_total_limit`` no longer frees.

At the end of training it queues the final checkpoint for ``main`` (with a model card, and ``tag`` if given), waits
for every pending upload, and raises ``HubUploadError`` naming each upload that failed for good.

    callback = HubCheckpointCallback(repo_id="org/spp-t0-1.7b", tag="v1.0")
    trainer = Trainer(..., callbacks=[callback])
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from spp.hub.access import redact
from spp.hub.cards import render_checkpoint_card, render_model_card
from spp.hub.delivery import MODEL_IGNORE, check_target, deliver, link_or_copy, stage_files, write_card_and_metadata
from spp.hub.refs import step_branch
from spp.hub.retry import RetryPolicy, http_status
from spp.metadata import SppMetadata, read_metadata

logger = logging.getLogger("spp.hub")
STAGING_DIRNAME = ".hub_staging"
TRAINING_STATE_IGNORE = ["training_args.bin", "README.md", "spp.json"]


class HubUploadError(RuntimeError):
    """Some checkpoint uploads failed for good; ``failed`` holds ``(revision, reason)`` pairs."""

    def __init__(self, failed: list[tuple[str, str]]):
        self.failed = failed
        names = "; ".join(f"{rev}: {reason}" for rev, reason in failed)
        super().__init__(f"{len(failed)} checkpoint upload(s) failed: {names}")


@dataclass(frozen=True)
class UploadJob:
    """One staged tree to put on one revision."""

    revision: str
    tree: Path
    message: str
    tag: str | None = None
    mirror: bool = True


class HubCheckpointCallback(TrainerCallback):
    """Upload every saved checkpoint to its own ``step-NNNNNNN`` branch (or export folder), then the final to main.

    Give ``repo_id`` (the Hub) and/or ``to_dir`` (a local export, see ``spp.hub.export``; ``repo_id`` then only
    names the repo in cards). ``api`` replaces ``HfApi``
    (tests). ``metadata`` is the run's ``SppMetadata``; by default ``OUTPUT_DIR/spp.json`` is read at the first save.
    ``push_final`` puts the last checkpoint on ``final_revision`` with a model card; ``tag`` then marks it.
    ``include_training_state`` also uploads optimizer/scheduler/RNG state (large; off by default).
    ``max_pending`` bounds the checkpoints waiting for upload (``0``: unbounded); training waits when it is reached.
    """

    def __init__(
        self,
        repo_id: str | None = None,
        to_dir: str | None = None,
        private: bool = False,
        api: Any = None,
        *,
        metadata: SppMetadata | None = None,
        push_final: bool = True,
        final_revision: str = "main",
        tag: str | None = None,
        include_training_state: bool = False,
        retry: RetryPolicy | None = None,
        max_pending: int = 4,
    ):
        check_target(repo_id, to_dir, final_revision, tag)
        if max_pending < 0:
            raise ValueError(f"max_pending must be >= 0 (0 = unbounded), not {max_pending}")
        self.repo_id, self.to_dir, self.private, self.api = repo_id, to_dir, private, api
        self.metadata, self.push_final, self.final_revision, self.tag = metadata, push_final, final_revision, tag
        self.ignore = TRAINING_STATE_IGNORE if include_training_state else MODEL_IGNORE
        self.retry = retry or RetryPolicy()
        self.uploaded: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self.waited_seconds = 0.0  # training time spent blocked on a full upload queue
        self._queue: queue.Queue[UploadJob | None] = queue.Queue(maxsize=max_pending)
        self._worker: threading.Thread | None = None
        self._queued_steps: set[int] = set()
        self._last_tree: Path | None = None
        self._last_step: int | None = None
        self._staging_root: Path | None = None
        self._repo_ready = False

    # Trainer events

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or state.global_step in self._queued_steps:
            return
        step = state.global_step
        checkpoint = Path(args.output_dir) / f"checkpoint-{step}"
        if not checkpoint.is_dir():
            self.failed.append((step_branch(step), f"checkpoint folder {checkpoint} not found"))
            return
        branch = step_branch(step)
        tree = self._stage_checkpoint(checkpoint, Path(args.output_dir), step, branch)
        self._queued_steps.add(step)
        self._last_tree, self._last_step = tree, step
        self._submit(UploadJob(branch, tree, f"spp: checkpoint at step {step} ({branch})"))

    def on_train_end(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        if self.push_final and self._last_tree is not None:
            tree = self._stage_final(Path(args.output_dir))
            message = f"spp: final model (step {self._last_step})"
            self._submit(UploadJob(self.final_revision, tree, message, tag=self.tag, mirror=False))
        self.wait()

    # Staging and uploading

    def _meta(self, output_dir: Path, checkpoint: Path) -> SppMetadata:
        if self.metadata is None:
            self.metadata = read_metadata(output_dir) or read_metadata(checkpoint) or SppMetadata(kind="model")
        return self.metadata

    def _stage_checkpoint(self, checkpoint: Path, output_dir: Path, step: int, branch: str) -> Path:
        self._staging_root = output_dir / STAGING_DIRNAME
        tree = self._staging_root / branch
        shutil.rmtree(tree, ignore_errors=True)
        stage_files(checkpoint, tree, self.ignore)
        base = self._meta(output_dir, checkpoint)
        meta = replace(base, kind="checkpoint", details={**base.details, "step": step, "branch": branch})
        write_card_and_metadata(tree, render_checkpoint_card(meta, step, branch, repo_id=self.repo_id), meta)
        return tree

    def _stage_final(self, output_dir: Path) -> Path:
        assert self._last_tree is not None
        tree = output_dir / STAGING_DIRNAME / f"final-{self.final_revision}"
        shutil.rmtree(tree, ignore_errors=True)
        for path in sorted(p for p in self._last_tree.rglob("*") if p.is_file()):
            if path.name not in ("README.md", "spp.json"):
                link_or_copy(path, tree / path.relative_to(self._last_tree))
        meta = replace(self.metadata or SppMetadata(kind="model"))
        meta.details = {**meta.details, "final_step": self._last_step}
        write_card_and_metadata(tree, render_model_card(meta, repo_id=self.repo_id), meta)
        return tree

    def _submit(self, job: UploadJob) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="spp-hub-upload", daemon=True)
            self._worker.start()
        blocked, start = self._queue.full(), time.monotonic()
        if blocked:
            logger.warning(
                "%d checkpoints already wait for upload (max_pending): training waits until the oldest has landed",
                self._queue.qsize(),
            )
        self._queue.put(job)
        if blocked:
            self.waited_seconds += time.monotonic() - start
        logger.info("queued %s (%d pending)", job.revision, self._queue.qsize())

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                self._upload(job)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _upload(self, job: UploadJob) -> None:
        try:
            deliver(
                job.tree,
                repo_id=self.repo_id,
                to_dir=self.to_dir,
                repo_type="model",
                revision=job.revision,
                message=job.message,
                private=self.private,
                tag=job.tag,
                mirror=job.mirror,
                create_repo=not self._repo_ready,
                api=self.api,
                retry=self.retry,
            )
        except Exception as err:  # recorded and raised at the end of training: never swallowed
            status = http_status(err)
            reason = redact(f"{type(err).__name__}{f' (HTTP {status})' if status else ''}: {err}")
            self.failed.append((job.revision, reason))
            logger.error("upload of %s failed for good: %s", job.revision, reason)
            return
        self._repo_ready = True
        self.uploaded.append(job.revision)
        if job.tree != self._last_tree:
            shutil.rmtree(job.tree, ignore_errors=True)

    def wait(self) -> None:
        """Block until every queued upload is done; raise ``HubUploadError`` if any failed for good."""
        if self._worker is not None and self._worker.is_alive():
            self._queue.put(None)
            self._worker.join()
        if self.failed:
            raise HubUploadError(list(self.failed))
        if self._staging_root is not None and self._queue.empty():
            shutil.rmtree(self._staging_root, ignore_errors=True)
            self._last_tree = None
