"""Train the tiny spp_t0 arm and dump what this process trained on: run by test_training.py, alone or as two CPU
processes (the launch line of ``spp.launch.TWO_CPU_PROCESSES``: ``accelerate launch --config_file
recipes/accelerate/ddp.yaml --num_processes 2``, gloo).

    python tests/pretrain/ddp_train.py CORPUS_DIR OUTPUT_DIR [--token_cache DIR] [--save_steps N] [--resume CKPT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from spp.launch import exit_process
from spp.pretrain import SPPDataArguments, SPPModelArguments, SPPTrainer, SPPTrainingArguments, build_run


class RecordingTrainer(SPPTrainer):
    """Records every micro-batch's input_ids and exact loss."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        self.record.append({"step": self.state.global_step, "input_ids": inputs["input_ids"].tolist()})
        return loss


def tiny_configs(corpus_dir: str, output_dir: str, token_cache: str | None = None, **training):
    model = SPPModelArguments(
        model_spec="tiny", tokenizer_name_or_path=f"{corpus_dir}/tokenizer", pad_vocab_to_multiple_of=8
    )
    data = SPPDataArguments(
        dataset_path=corpus_dir, arm="spp_t0", seq_len=64, reflection_budget=24, token_cache_dir=token_cache
    )
    defaults = dict(
        output_dir=output_dir,
        max_steps=4,
        per_device_train_batch_size=2,
        global_batch_windows=4,
        learning_rate=3e-3,
        warmup_steps=1,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
    )
    return model, data, SPPTrainingArguments(**(defaults | training))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus_dir")
    parser.add_argument("output_dir")
    parser.add_argument("--token_cache")
    parser.add_argument("--save_steps", type=int)
    parser.add_argument("--resume")
    cli = parser.parse_args()
    saving = {"save_strategy": "steps", "save_steps": cli.save_steps} if cli.save_steps else {}
    model_args, data_args, args = tiny_configs(cli.corpus_dir, cli.output_dir, cli.token_cache, **saving)
    run = build_run(model_args, data_args, args)
    trainer = RecordingTrainer(model=run.model, args=args, train_dataset=run.train_dataset)
    trainer.record = []
    trainer.train(resume_from_checkpoint=cli.resume)
    rank = args.process_index
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    out = {"world_size": args.world_size, "accumulation": args.gradient_accumulation_steps, "batches": trainer.record}
    Path(cli.output_dir, f"rank{rank}.json").write_text(json.dumps(out | {"losses": losses}))
    if rank == 0:
        trainer.save_model(str(Path(cli.output_dir, "final")))


if __name__ == "__main__":
    main()
    raise SystemExit(exit_process(0))  # as spp's CLI ends: without torch's exit-time abort of a gloo process
