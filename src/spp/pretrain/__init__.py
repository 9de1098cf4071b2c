"""Pretraining: every arm as a view of one augmented corpus, the injection schedule, and ``SPPTrainer``.

from spp.pretrain import build_model, load_corpus, load_tokenizer, make_view, PackedArm, SPPTrainer
"""

from __future__ import annotations

from spp.targets import lazy_exports

# name -> the module that defines it, imported on first use (``import spp.pretrain`` stays cheap: no torch)
_EXPORTS = {
    "ARMS": "spp.pretrain.arms",
    "Arm": "spp.pretrain.arms",
    "ArmView": "spp.pretrain.arms",
    "get_arm": "spp.pretrain.arms",
    "make_view": "spp.pretrain.arms",
    "register_arm": "spp.pretrain.arms",
    "PretrainRun": "spp.pretrain.builder",
    "build_run": "spp.pretrain.builder",
    "midtraining_start_tokens": "spp.pretrain.builder",
    "SPPDataArguments": "spp.pretrain.config",
    "SPPModelArguments": "spp.pretrain.config",
    "SPPTrainingArguments": "spp.pretrain.config",
    "DocumentStream": "spp.pretrain.data",
    "PackedArm": "spp.pretrain.data",
    "collate_windows": "spp.pretrain.data",
    "load_corpus": "spp.pretrain.data",
    "split_and_order": "spp.pretrain.data",
    "Document": "spp.pretrain.documents",
    "build_heldout_windows": "spp.pretrain.heldout",
    "heldout_windows_of_corpus": "spp.pretrain.heldout",
    "tokenize_batch": "spp.pretrain.documents",
    "PackingStats": "spp.pretrain.packing",
    "Window": "spp.pretrain.packing",
    "pack_windows": "spp.pretrain.packing",
    "InjectionSchedule": "spp.pretrain.schedule",
    "MODEL_SPECS": "spp.pretrain.specs",
    "ModelSpec": "spp.pretrain.specs",
    "build_model": "spp.pretrain.specs",
    "get_model_spec": "spp.pretrain.specs",
    "register_model_spec": "spp.pretrain.specs",
    "load_tokenizer": "spp.pretrain.tokenizer",
    "prepare_tokenizer": "spp.pretrain.tokenizer",
    "SPPTrainer": "spp.pretrain.trainer",
    "Enrichment": "spp.pretrain.window_index",
    "WindowIndex": "spp.pretrain.window_index",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
