"""Train the tiny spp_t0 arm and dump what this process trained on: run by test_distributed.py, alone or under
``accelerate launch --num_processes 2`` (gloo on CPU).

    python tests/pretrain/ddp_train.py CORPUS_DIR OUTPUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from spp.pretrain import SPPDataArguments, SPPModelArguments, SPPTrainer, SPPTrainingArguments, build_run


class RecordingTrainer(SPPTrainer):
    """Records every micro-batch's input_ids and exact loss."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        self.record.append({"step": self.state.global_step, "input_ids": inputs["input_ids"].tolist()})
        return loss


def tiny_configs(corpus_dir: str, output_dir: str, **training):
    model = SPPModelArguments(
        model_spec="tiny", tokenizer_name_or_path=f"{corpus_dir}/tokenizer", pad_vocab_to_multiple_of=8
    )
    data = SPPDataArguments(dataset_path=corpus_dir, arm="spp_t0", seq_len=64, reflection_budget=24)
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


def main(corpus_dir: str, output_dir: str) -> None:
    model_args, data_args, args = tiny_configs(corpus_dir, output_dir)
    run = build_run(model_args, data_args, args)
    trainer = RecordingTrainer(model=run.model, args=args, train_dataset=run.train_dataset)
    trainer.record = []
    trainer.train()
    rank = args.process_index
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    out = {"world_size": args.world_size, "accumulation": args.gradient_accumulation_steps, "batches": trainer.record}
    Path(output_dir, f"rank{rank}.json").write_text(json.dumps(out | {"losses": losses}))
    if rank == 0:
        trainer.save_model(str(Path(output_dir, "final")))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
