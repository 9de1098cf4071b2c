"""Pretraining: every arm as a view of one augmented corpus, the injection schedule, and ``SPPTrainer``.

from spp.pretrain import build_model, load_corpus, load_tokenizer, make_view, PackedArm, SPPTrainer
"""

from spp.pretrain.arms import ARMS, Arm, ArmView, get_arm, make_view, register_arm
from spp.pretrain.builder import PretrainRun, build_run, midtraining_start_tokens
from spp.pretrain.config import SPPDataArguments, SPPModelArguments, SPPTrainingArguments
from spp.pretrain.data import DocumentStream, PackedArm, collate_windows, load_corpus, split_and_order
from spp.pretrain.documents import Document, tokenize_batch
from spp.pretrain.heldout import build_heldout_windows, heldout_windows_of_corpus
from spp.pretrain.packing import PackingStats, Window, pack_windows
from spp.pretrain.schedule import InjectionSchedule
from spp.pretrain.specs import MODEL_SPECS, ModelSpec, build_model, get_model_spec, register_model_spec
from spp.pretrain.tokenizer import load_tokenizer, prepare_tokenizer
from spp.pretrain.trainer import SPPTrainer
from spp.pretrain.window_index import Enrichment, WindowIndex

__all__ = [
    "ARMS",
    "MODEL_SPECS",
    "Arm",
    "ArmView",
    "Document",
    "DocumentStream",
    "Enrichment",
    "InjectionSchedule",
    "ModelSpec",
    "PackedArm",
    "PackingStats",
    "PretrainRun",
    "SPPDataArguments",
    "SPPModelArguments",
    "SPPTrainer",
    "SPPTrainingArguments",
    "Window",
    "WindowIndex",
    "build_heldout_windows",
    "build_model",
    "build_run",
    "collate_windows",
    "get_arm",
    "get_model_spec",
    "heldout_windows_of_corpus",
    "load_corpus",
    "load_tokenizer",
    "make_view",
    "midtraining_start_tokens",
    "pack_windows",
    "prepare_tokenizer",
    "register_arm",
    "register_model_spec",
    "split_and_order",
    "tokenize_batch",
]
