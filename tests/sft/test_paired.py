"""Acceptance 2: `spp sft` on a bind-data dataset: stage 1 cited, stage 2 uncited (persona data only), the general
mix seen once, the loss mask on exactly the assistant tokens, the assistant turn opened by the pretraining marker."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from spp.bind.cli import main as bind_main
from spp.metadata import SppMetadata, read_metadata
from spp.persona import BlockFormat, load_persona
from spp.sft.train import run_sft

MARKERS = BlockFormat()


@pytest.fixture(scope="module")
def bind_dataset(tmp_path_factory):
    """spp's demo prompts answered by the offline backend: 32 paired rows."""
    out = tmp_path_factory.mktemp("bind") / "data"
    assert bind_main(["--output_dir", str(out), "--progress", "false"]) == 0
    return out


class StageSpy:
    """Records what each SFT stage trains on: the decoded rows and labels of ``SFTTrainer.train_dataset``."""

    def __init__(self, monkeypatch):
        from trl import SFTTrainer

        self.stages: list[list[dict]] = []
        train = SFTTrainer.train

        def spy(trainer, *args, **kwargs):
            self.stages.append([dict(row) for row in trainer.train_dataset])
            self.tokenizer = trainer.processing_class
            return train(trainer, *args, **kwargs)

        monkeypatch.setattr(SFTTrainer, "train", spy)

    def texts(self, stage: int) -> list[str]:
        return [self.tokenizer.decode(row["input_ids"]) for row in self.stages[stage]]


def _assistant_mask_is_exact(row: dict, open_id: int, end_id: int) -> bool:
    """Labels equal the input ids from just after each opening marker through the end token, -100 elsewhere."""
    expected, inside = [], False
    for token in row["input_ids"]:
        expected.append(token if inside else -100)
        inside = (inside or token == open_id) and token != end_id
    return row["labels"] == expected


def test_sft_on_bind_data_cited_then_uncited_general_mix_once(
    bind_dataset, base_model, chat_file, make_config, tmp_path, monkeypatch
):
    from datasets import load_from_disk

    spy = StageSpy(monkeypatch)
    datasets = [{"path": str(chat_file), "persona": False}, {"path": str(bind_dataset)}]
    config = make_config(
        tmp_path / "o", base_model, chat_file, datasets=datasets, citation_stage="uncited", max_steps=1
    )
    result = run_sft(config)
    rows = load_from_disk(str(bind_dataset))
    tok = spy.tokenizer
    render = lambda messages: tok.apply_chat_template(messages, tokenize=False)  # noqa: E731
    general = [render(c) for c in _general(chat_file)]
    cited = [render(r["messages_cite"]) for r in rows]
    uncited = [render(r["messages_nocite"]) for r in rows]
    assert not set(cited) & set(uncited)
    # stage 1: every persona row in its cited rendering plus the general mix, each once; stage 2: the same persona
    # rows in their uncited rendering, and no general row
    assert Counter(spy.texts(0)) == Counter(cited + general)
    assert Counter(spy.texts(1)) == Counter(uncited)
    # the template: no system turn, the assistant turn opens with the pretraining marker
    assert cited[0].startswith(f"User: {rows[0]['prompt']}\n{MARKERS.marker}")
    assert not any("System:" in t for t in spy.texts(0) + spy.texts(1))
    open_id, end_id = tok.convert_tokens_to_ids([MARKERS.marker, MARKERS.end_marker])
    assert all(_assistant_mask_is_exact(row, open_id, end_id) for stage in spy.stages for row in stage)
    meta = read_metadata(result.output_dir)
    assert meta.details["chat_template"] == {"style": "marker", "system_turn": False}


def _general(chat_file):
    return [json.loads(line)["messages"] for line in chat_file.read_text().splitlines()]


def test_empty_end_marker_ends_the_assistant_turn_with_eos(make_base_model, chat_file, make_config, tmp_path):
    """The authors' block format: `<assistant>` and no end token. Training and the mask still end at EOS."""
    from trl import SFTTrainer

    from spp.sft.data import stage_datasets
    from spp.sft.train import load_base

    base = make_base_model(tmp_path / "base", seed=4, arm="spp_t0")
    SppMetadata(
        kind="model", persona=load_persona().to_dict(), block_format={"marker": MARKERS.marker, "end_marker": ""}
    ).save(base)
    config = make_config(tmp_path / "o", base, chat_file)
    model, tok, _, _ = load_base(config)
    config.eos_token = tok.eos_token
    text = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], tokenize=False
    )
    assert text == f"User: hi\n{MARKERS.marker}hello{tok.eos_token}"
    trainer = SFTTrainer(model=model, args=config, train_dataset=stage_datasets(config)[0], processing_class=tok)
    open_id = tok.convert_tokens_to_ids(MARKERS.marker)
    assert all(_assistant_mask_is_exact(row, open_id, tok.eos_token_id) for row in trainer.train_dataset)
