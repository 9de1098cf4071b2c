"""Release hygiene: the export of a two-stage SFT holds safetensors, configs, tokenizer, card and spp.json only."""

from __future__ import annotations

from pathlib import Path

from spp.cli import main as spp_main
from spp.hub.delivery import PICKLE_SUFFIXES

TOKEN = "hf_ReLeAsEtEsTtOkEn0123456789abcdefQ"


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_two_stage_sft_release_tree_has_no_pickle_and_no_token(base_model, chat_file, tmp_path, capsys):
    """Acceptance 5, through `spp sft --export_dir` with --hub_token set and checkpoints saved in both stages."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"datasets:\n  - path: {chat_file}\n    persona: true\ncitation_stage: uncited\nmax_steps: 2\n"
        "per_device_train_batch_size: 2\nmax_length: 512\nbf16: false\nuse_cpu: true\ngradient_checkpointing: false\n"
        "save_strategy: steps\nsave_steps: 1\nreport_to: none\n"
    )
    out, export = tmp_path / "o", tmp_path / "export"
    argv = ["--config", str(recipe), "--model_name_or_path", str(base_model), "--output_dir", str(out)]
    argv += ["--export_dir", str(export), "--hub_model_id", "org/lumen-it", "--hub_token", TOKEN]
    assert spp_main(["sft", *argv]) == 0, capsys.readouterr().err
    # the training folder does hold training state and the token (what the release must leave behind)
    trained = [p.relative_to(out).as_posix() for p in _files(out)]
    assert any(p.startswith("stage-1/checkpoint-") and p.endswith("optimizer.pt") for p in trained)
    assert any(TOKEN.encode() in p.read_bytes() for p in _files(out) if p.name == "training_args.bin")
    released = _files(export)
    names = {p.relative_to(export / "main").as_posix() for p in released if (export / "main") in p.parents}
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md", "spp.json"} <= names
    assert all("/" not in n for n in names), names  # no stage-*/ or checkpoint-*/ folders at any depth
    assert not [p for p in released if p.name.lower().endswith(PICKLE_SUFFIXES)]
    assert not [p for p in released if TOKEN.encode() in p.read_bytes()]
