"""``SPPTrainer``: a ``transformers.Trainer`` for packed SPP pretraining.

What it adds to ``Trainer``:
- kernels: Liger's fused kernels on CUDA (``liger``/``liger_kernels``), plain PyTorch with one log line elsewhere;
  optionally each decoder layer compiled (``compile_layers``) and its linear layers trained in float8 (``fp8``,
  torchao, converted before compiling; ``spp.pretrain.fp8``);
- data: a ``PackedArm`` is sharded by rank itself (disjoint windows, union = the single-process stream), never
  re-dispatched by accelerate; a resumed run's stream starts at the first window not yet trained (seeking there
  with the token cache), so losses continue bit-for-bit;
- schedule: ``schedule_offset`` (``init_step``) enters the LR schedule at a checkpoint's step;
- metrics: tokens seen, tokens/s per GPU, MFU, the schedule state, held-out reflection vs document loss;
- checkpoints: every save becomes a ``step-*`` branch (Hub, ``hub_model_id``) or folder (``checkpoint_export_dir``)
  through ``spp.hub.checkpoints.HubCheckpointCallback``; ``spp.json`` is written to ``output_dir``.

    trainer = SPPTrainer(model=model, args=SPPTrainingArguments(...), train_dataset=packed_arm)
    trainer.train()
"""

from __future__ import annotations

from pathlib import Path

import torch
from accelerate.logging import get_logger
from transformers import Trainer, TrainerState
from transformers.trainer import TRAINER_STATE_NAME

from spp.batching import accumulation_steps
from spp.errors import SppConfigError
from spp.kernels import (
    check_liger_mode,
    compile_decoder_layers,
    liger_kernel_config,
    liger_problem,
    parse_liger_kernels,
)
from spp.metadata import SppMetadata
from spp.pretrain.callbacks import (
    CheckpointMetadataCallback,
    PackingCallback,
    ReflectionLossCallback,
    ScheduleCallback,
    ThroughputCallback,
    flops_per_token,
)
from spp.pretrain.config import SPPTrainingArguments
from spp.pretrain.data import PACKING_COUNTS, PackedArm, collate_windows
from spp.pretrain.fp8 import check_fp8, convert_decoder_to_fp8
from spp.pretrain.packing import Window

logger = get_logger("spp.pretrain")  # accelerate's: the main process logs, not every rank


def resolve_global_batch(args: SPPTrainingArguments) -> int:
    """Windows per optimizer step; with ``global_batch_windows`` set, ``gradient_accumulation_steps`` is derived."""
    if args.global_batch_windows is not None:
        args.gradient_accumulation_steps = accumulation_steps(
            args.global_batch_windows, args.per_device_train_batch_size, args.world_size, "global_batch_windows"
        )
    per_step = args.per_device_train_batch_size * args.world_size
    return per_step * args.gradient_accumulation_steps


def configure_kernels(args: SPPTrainingArguments) -> str:
    """Set ``use_liger_kernel``/``liger_kernel_config`` from ``liger``; returns ``"liger"`` or ``"plain"``."""
    check_liger_mode(args.liger)
    kernels = parse_liger_kernels(args.liger_kernels)
    args.use_liger_kernel = False
    if args.liger == "off":
        logger.info("Liger kernels off (liger: off): training with plain PyTorch kernels")
        return "plain"
    problem = liger_problem(args.device.type)
    if problem:
        if args.liger == "on":
            raise SppConfigError(problem, field="liger", fix="set liger: auto or off, or run on CUDA")
        logger.warning("%s; on %s SPPTrainer trains with plain PyTorch kernels", problem, args.device.type)
        return "plain"
    args.use_liger_kernel = True
    args.liger_kernel_config = liger_kernel_config(kernels)
    logger.info("Liger kernels on CUDA: %s", ", ".join(kernels))
    return "liger"


def _hub_callback(args: SPPTrainingArguments, hub_api=None):
    if not (args.hub_model_id or args.checkpoint_export_dir):
        return None
    if args.push_to_hub:
        raise SppConfigError(
            "push_to_hub would push checkpoint folders to one branch as well",
            field="push_to_hub",
            fix="leave push_to_hub false: hub_model_id alone makes SPPTrainer push one step-* branch per checkpoint",
        )
    from spp.hub.checkpoints import HubCheckpointCallback

    if args.hub_model_id:
        return HubCheckpointCallback(
            repo_id=args.hub_model_id,
            private=bool(args.hub_private_repo),
            api=hub_api,
            max_pending=args.hub_max_pending_uploads,
        )
    return HubCheckpointCallback(to_dir=args.checkpoint_export_dir, max_pending=args.hub_max_pending_uploads)


IDENTITY_FIELDS = ("arm", "model_spec", "data_view_hash")


def run_identity(meta: SppMetadata) -> dict[str, object]:
    """What a checkpoint must share with the run that resumes it: arm, model spec and data-view hash."""
    return {"arm": meta.arm, **{k: meta.details.get(k) for k in IDENTITY_FIELDS[1:]}}


def check_resume_identity(meta: SppMetadata, checkpoint: Path, output_dir: Path) -> None:
    """Refuse (``SppConfigError``) to resume from a checkpoint written by another arm, spec or data view.

    The checkpoint's own ``spp.json`` is read (``SPPTrainer`` writes one into each), else the output folder's.
    Nothing is written before this check.
    """
    from spp.metadata import read_metadata

    recorded = read_metadata(checkpoint) if checkpoint.is_dir() else None
    source = checkpoint
    if recorded is None:
        recorded, source = read_metadata(output_dir), output_dir
    if recorded is None:
        logger.warning("%s has no spp.json: cannot check that it was written by this arm and data view", checkpoint)
        return
    mine, theirs = run_identity(meta), run_identity(recorded)
    differ = {k: (theirs[k], mine[k]) for k in mine if theirs.get(k) is not None and theirs[k] != mine[k]}
    if differ:
        what = "; ".join(f"{k}: checkpoint {a!r}, this run {b!r}" for k, (a, b) in differ.items())
        raise SppConfigError(
            f"refusing to resume from {checkpoint}: it was written by another run ({what})",
            source=source / "spp.json",
            field="resume_from_checkpoint",
            fix="resume with the recipe that wrote it, or start this arm in its own output_dir",
        )


class SPPTrainer(Trainer):
    """``Trainer`` for one SPP arm. Give ``train_dataset`` a ``PackedArm`` (any dataset works; only a ``PackedArm``
    gets spp's own sharding), ``heldout`` windows for the reflection-loss metric, ``metadata`` for ``spp.json``."""

    def __init__(
        self,
        model=None,
        args: SPPTrainingArguments | None = None,
        *,
        heldout: list[Window] | None = None,
        metadata: SppMetadata | None = None,
        hub_api=None,
        callbacks=None,
        schedule_offset: int = 0,
        **kwargs,
    ):
        if not isinstance(args, SPPTrainingArguments):
            raise SppConfigError("SPPTrainer needs SPPTrainingArguments", field="args")
        self.schedule_offset = schedule_offset
        global_windows = self._global_windows = resolve_global_batch(args)
        self.kernels = configure_kernels(args)
        self.spp_metadata = metadata
        self._hub_api = hub_api
        kwargs.setdefault("data_collator", collate_windows)
        callbacks = [*(callbacks or []), CheckpointMetadataCallback(metadata)] if metadata is not None else callbacks
        callbacks = list(callbacks or [])
        super().__init__(model=model, args=args, callbacks=callbacks, **kwargs)
        self._add_spp_callbacks(global_windows, heldout or [], hub_api)
        if args.fp8:  # before compiling, so inductor fuses the float8 casts into each layer
            check_fp8(args)
            swapped = convert_decoder_to_fp8(self.model, args.fp8_recipe)
            logger.info("float8 training (%s recipe) on %d linear layers of the decoder", args.fp8_recipe, swapped)
        if args.compile_layers:
            logger.info("compiled %d decoder layers", compile_decoder_layers(self.model))

    def _add_spp_callbacks(self, global_windows: int, heldout: list[Window], hub_api) -> None:
        args, config = self.args, self.model.config
        seq_len = getattr(self.train_dataset, "seq_len", None) or config.max_position_embeddings
        tokens_per_step = global_windows * seq_len
        num_params = sum(p.numel() for p in {id(p): p for p in self.model.parameters()}.values())
        fpt = flops_per_token(num_params, config.num_hidden_layers, config.hidden_size, seq_len)
        self.add_callback(ThroughputCallback(tokens_per_step, args.world_size, fpt, args.peak_tflops))
        view = getattr(self.train_dataset, "view", None)
        if view is not None:
            start = getattr(self.train_dataset, "first_window", 0) * seq_len  # a continued stream's position
            self.add_callback(ScheduleCallback(view.schedule, tokens_per_step, start))
            logger.info("arm %s: %s", view.name, view.schedule.describe())
        self.packing = PackingCallback(metadata=self.spp_metadata)
        self.add_callback(self.packing)
        if heldout:
            self.add_callback(ReflectionLossCallback(heldout, args.reflection_eval_steps or int(args.logging_steps)))
        hub = _hub_callback(args, hub_api)
        if hub is not None:
            self.add_callback(hub)

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        """``Trainer.create_scheduler``; with ``schedule_offset`` N (``init_step``) the schedule spans
        N + ``num_training_steps`` steps and step s of this run is its step N + s (``spp.pretrain.init``)."""
        if not self.schedule_offset or self.lr_scheduler is not None:
            return super().create_scheduler(num_training_steps, optimizer)
        from spp.pretrain.init import shift_schedule

        scheduler = super().create_scheduler(num_training_steps + self.schedule_offset, optimizer)
        self.lr_scheduler = shift_schedule(scheduler, self.schedule_offset)
        return self.lr_scheduler

    def get_train_dataloader(self):
        """A ``PackedArm`` shard for this rank, put on device by accelerate but not re-sharded or dispatched."""
        if not isinstance(self.train_dataset, PackedArm):
            return super().get_train_dataloader()
        from accelerate.data_loader import prepare_data_loader

        args = self.args
        if args.world_size > 1 and not self.train_dataset.indexed:
            logger.warning(
                "no window index (streamed corpus, or no token_cache_dir): each of the %d ranks packs the whole "
                "stream and keeps 1/%d of it; set token_cache_dir so each rank builds only its own windows",
                args.world_size, args.world_size,
            )  # fmt: skip
        shard = self.train_dataset.shard(args.process_index, args.world_size, self._train_batch_size)
        workers = args.dataloader_num_workers
        loader = torch.utils.data.DataLoader(
            shard,
            batch_size=self._train_batch_size,
            collate_fn=self.data_collator,
            num_workers=workers,
            pin_memory=args.dataloader_pin_memory and args.device.type == "cuda",
            persistent_workers=args.dataloader_persistent_workers if workers else False,
            prefetch_factor=args.dataloader_prefetch_factor if workers else None,
        )
        return prepare_data_loader(
            loader, args.device, num_processes=1, process_index=0, put_on_device=True, dispatch_batches=False
        )

    def training_step(self, model, inputs, num_items_in_batch=None):
        """``Trainer.training_step`` after taking the packing counts out of the batch (they are not model inputs)."""
        counts = inputs.pop(PACKING_COUNTS, None)
        if counts is not None:
            self.packing.add(counts)
        return super().training_step(model, inputs, num_items_in_batch)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        for callback in self.callback_handler.callbacks:
            if hasattr(callback, "pop_metrics"):
                logs.update(callback.pop_metrics())
        super().log(logs, start_time)

    def train(self, resume_from_checkpoint: str | bool | None = None, *args, **kwargs):
        """``Trainer.train``; if training dies, checkpoint uploads already queued still finish before the error.

        Resuming a ``PackedArm`` run starts its stream at the first window the checkpoint has not trained on
        (``PackedArm.resume_at``) instead of letting the Trainer draw and discard every earlier batch; the batches
        are the same either way. With ``ignore_data_skip=True`` set by the user, the stream starts from the beginning,
        as the Trainer does.
        """
        full_stream, ignore_data_skip = self.train_dataset, self.args.ignore_data_skip
        checkpoint = self._checkpoint_to_resume(resume_from_checkpoint)
        if checkpoint and self.spp_metadata is not None:
            check_resume_identity(self.spp_metadata, Path(checkpoint), Path(self.args.output_dir))
        self._check_export_owner()
        if self.spp_metadata is not None and self.args.should_save:
            self.spp_metadata.save(Path(self.args.output_dir))
        state_file = Path(checkpoint) / TRAINER_STATE_NAME if checkpoint else None
        # a missing or unreadable checkpoint is left to Trainer.train, whose error names it
        if (
            state_file is not None
            and state_file.is_file()
            and isinstance(full_stream, PackedArm)
            and not ignore_data_skip
        ):
            step = TrainerState.load_from_json(str(state_file)).global_step
            self.train_dataset = full_stream.resume_at(step * self._global_windows)
            self.args.ignore_data_skip = True
        try:
            return super().train(resume_from_checkpoint, *args, **kwargs)
        except BaseException:
            self._drain_uploads()
            raise
        finally:
            self.train_dataset, self.args.ignore_data_skip = full_stream, ignore_data_skip

    def _check_export_owner(self) -> None:
        """Before the first save: the export folder or Hub repo the checkpoints go to holds no other run's ``main``
        or ``step-*`` (``spp.hub.owners.check_export_owner``; a resume of this run is allowed)."""
        args = self.args
        if self.spp_metadata is None or not (args.hub_model_id or args.checkpoint_export_dir):
            return
        from spp.hub.owners import check_export_owner
        from spp.ownership import check_not_in_place, on_main_process, run_identity

        def check() -> None:
            if not args.hub_model_id:
                export = Path(args.checkpoint_export_dir)
                check_not_in_place([export], [args.output_dir], "checkpoint_export_dir")
            check_export_owner(
                run_identity(self.spp_metadata),
                to_dir=None if args.hub_model_id else args.checkpoint_export_dir,
                repo_id=args.hub_model_id or None,
                overwrite=args.overwrite,
                api=self._hub_api,
                field="hub_model_id" if args.hub_model_id else "checkpoint_export_dir",
            )

        on_main_process(args, check)

    def _checkpoint_to_resume(self, resume_from_checkpoint: str | bool | None) -> str | None:
        """The checkpoint folder ``Trainer.train`` will resume from (``True``: the last in ``output_dir``)."""
        if resume_from_checkpoint is True:
            from transformers.trainer_utils import get_last_checkpoint

            return get_last_checkpoint(self.args.output_dir)  # Trainer raises its own error when there is none
        return resume_from_checkpoint or None

    def _drain_uploads(self) -> None:
        for callback in self.callback_handler.callbacks:
            if callable(getattr(callback, "wait", None)):
                try:
                    callback.wait()
                except Exception as err:  # the training error is the one to raise; this one is logged
                    logger.error("checkpoint uploads after a failed run: %s", err)
