"""Pretraining configuration: model, data/arm/schedule, and ``SPPTrainingArguments`` (TrainingArguments + SPP fields).

Recipes in ``recipes/pretrain/`` set these fields by name; ``spp pretrain --help`` lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from spp.checks import ANY, AT_LEAST_ONE, FRACTION, POSITIVE, SEED, TRAINING_RANGES, Range
from spp.errors import check_output_dir
from spp.kernels import LIGER_KERNELS
from spp.pretrain.fp8 import FP8_RECIPES, check_fp8


@dataclass
class SPPModelArguments:
    """Which model is built (from a spec, random init) and which tokenizer it uses."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "pad_vocab_to_multiple_of": AT_LEAST_ONE,
        "model_init_seed": SEED,
    }

    model_spec: str = field(
        default="tiny",
        metadata={"values": "spp.pretrain.specs:MODEL_SPECS", "help": "Model spec (the spp.pretrain.specs registry)."}
    )
    tokenizer_name_or_path: str = field(
        default="HuggingFaceTB/SmolLM2-1.7B", metadata={"help": "Any HF tokenizer id or local path."}
    )
    eos_token: str | None = field(
        default="<|endoftext|>",
        metadata={"help": "EOS separating packed documents (SmolLM2 and the SPP authors: <|endoftext|>, id 0)."},
    )
    pad_vocab_to_multiple_of: int = field(
        default=64, metadata={"help": "Round the vocabulary up to this multiple when the markers extend it."}
    )
    attn_implementation: str = field(default="sdpa", metadata={"help": "Attention kernel: sdpa, eager, ..."})
    model_init_seed: int | None = field(
        default=None, metadata={"help": "Seed of the random initialisation (default: the training seed)."}
    )
    init_from: str = field(
        default="",
        metadata={
            "help": "Continue from this checkpoint (a folder, a local export or a Hub id): its weights, config and "
            "tokenizer replace model_spec's random init and tokenizer_name_or_path; its tokenizer must agree with the "
            "corpus' (vocabulary size, marker ids) and is used as it is."
        },
    )
    init_revision: str = field(
        default="",
        metadata={
            "help": "Revision of init_from: a Hub branch, tag or commit (e.g. a released step-* revision) or a local "
            "export's ref (empty: main); the resolved sha is recorded in spp.json."
        },
    )
    init_step: int = field(
        default=0,
        metadata={
            "help": "init_from's step in its own LR schedule: the recipe's schedule runs over init_step + max_steps "
            "steps and this run enters it at init_step (e.g. a warmup_stable_decay decay from a stable checkpoint)."
        },
    )
    init_continue_stream: bool = field(
        default=False,
        metadata={
            "help": "Continue init_from's own data stream at init_step x windows_per_step instead of reading the "
            "corpus from its first window (e.g. spp_mt from a baseline checkpoint). init_from must be a checkpoint "
            "spp trained on this corpus and data view (its spp.json: corpus, tokenizer, seq_len, reflection_budget, "
            "layout, plain_fill, voice, order, data_seed, heldout_documents, windows_per_step and the rows the arm "
            "drops must match, else exit 2 naming them); an unset midtraining start is then the continuation's first "
            "window."
        },
    )


@dataclass
class SPPDataArguments:
    """The augmented corpus, the arm (a view of it), packing and the injection schedule."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "max_skipped_share": FRACTION,
        "harm_threshold": ANY,
        "seq_len": Range(2),
        "shuffle_buffer": AT_LEAST_ONE,
        "tokenize_num_proc": AT_LEAST_ONE,
        "midtraining_fraction": FRACTION,
    }

    dataset_path: str = field(
        default="", metadata={"help": "Augmented corpus: a save_to_disk folder or parquet shards (with spp.json)."}
    )
    arm: str = field(
        default="spp_t0",
        metadata={
            "values": "spp.pretrain.arms:ARMS",
            "help": "baseline, filtered, spp_t0 (reflections from the first token to the last), spp_mt (only from "
            "the midtraining start), spp_t0_mt (spp_t0 plus a reflection-enriched midtraining stream: set "
            "midtraining_annotated_share) or spp_t0_end (end-of-document ablation, from the end_* columns)."
        },
    )
    reflection_voice: str = field(
        default="1p",
        metadata={"values": "spp.contract:VOICES", "help": "Reflection voice (one per model)."},
    )
    placement: str | None = field(
        default=None,
        metadata={
            "values": "spp.pretrain.arms:PLACEMENTS",
            "help": "Override the arm's block placement: pause or end (end reads the end_* columns).",
        },
    )
    layout: str = field(
        default="dense",
        metadata={
            "values": "spp.pretrain.documents:LAYOUTS",
            "help": "Window layout: dense (documents packed back to back; an annotated document starts a new window "
            "when its prefix or block would not fit) or document (the SPP authors': an annotated document opens its "
            "own window, truncated to seq_len - reflection_budget - 1 tokens, padding after)."
        },
    )
    plain_fill: str = field(
        default="reserve",
        metadata={
            "values": "spp.pretrain.documents:PLAIN_FILLS",
            "help": "What a window in which no annotated document starts holds: reserve (seq_len - "
            "reflection_budget document tokens, the budget left as padding) or full (seq_len + 1 document tokens, "
            "no padding: the SPP authors' compact stream). Windows with an annotated document keep the budget."
        },
    )
    loss_on: str = field(
        default="all",
        metadata={
            "values": "spp.pretrain.arms:LOSS_ON",
            "help": "Tokens that carry the next-token loss: all (every token but padding), reflection (the "
            "reflection blocks only) or no_harmful_context (all but the document tokens of documents with "
            "harm_score >= harm_threshold; their reflections keep their loss)."
        },
    )
    midtraining_annotated_share: float | None = field(
        default=None,
        metadata={
            "help": "Enriched midtraining stream: from the midtraining start, this share of the documents are "
            "annotated (drawn from the same corpus, in (0, 1]); none = the stream goes on unchanged. Needs "
            "token_cache_dir. Required by spp_t0_mt."
        },
    )
    midtraining_max_repeats: int = field(
        default=0,
        metadata={
            "help": "Enriched midtraining stream: how many more times an annotated document may occur after its "
            "first occurrence in the run (0 = never repeated); every repeat is counted in spp.json."
        },
    )
    max_skipped_share: float = field(
        default=0.005,
        metadata={
            "help": "Stop at start-up (exit 2) when packing would skip more than this share of the arm's "
            "reflections (over budget, or a pause outside the window)."
        },
    )
    harm_threshold: float = field(
        default=3.0, metadata={"help": "filtered arm: drop rows with harm_score at or over this (SafeLM 0-5 scale)."}
    )
    seq_len: int | None = field(
        default=None,
        metadata={
            "help": "Training sequence length; windows hold seq_len + 1. Default: the corpus's spp.json (the "
            "contract spp augment recorded; 2048 when it records none); a different value is refused."
        },
    )
    reflection_budget: int | None = field(
        default=None,
        metadata={
            "help": "Tokens per window reserved for a reflection block (marker + reflection + end marker), in this "
            "tokenizer. Default: the corpus's spp.json (128 when it records none); a different value is refused."
        },
    )
    shuffle_documents: bool = field(
        default=True, metadata={"help": "Shuffle the document order with data_seed (else: stored order)."}
    )
    shuffle_buffer: int = field(default=10_000, metadata={"help": "Shuffle buffer for a streamed corpus."})
    streaming: bool = field(default=False, metadata={"help": "Stream the corpus (datasets IterableDataset)."})
    token_cache_dir: str | None = field(
        default=None, metadata={"help": "Pre-tokenized cache folder (built once, shared by every arm)."}
    )
    tokenize_num_proc: int | None = field(default=None, metadata={"help": "Processes building the token cache."})
    heldout_documents: int = field(
        default=0, metadata={"help": "The first N corpus rows are held out of training in every arm."}
    )
    heldout_windows: int = field(
        default=8, metadata={"help": "Held-out windows on which reflection vs document loss is measured."}
    )
    reflections_from_tokens: int = field(
        default=0, metadata={"help": "Pretraining-phase reflections start at this many tokens (0 = token zero)."}
    )
    reflection_ramp_tokens: int = field(
        default=0, metadata={"help": "Phase reflections in linearly over this many tokens (0 = at once)."}
    )
    midtraining_fraction: float | None = field(
        default=None,
        metadata={
            "help": "Midtraining = the final fraction of training tokens; default: the warmup_stable_decay "
            "decay phase (lr_scheduler_kwargs.num_decay_steps), else none."
        },
    )
    midtraining_start_tokens: int | None = field(
        default=None, metadata={"help": "Midtraining start in tokens (overrides midtraining_fraction)."}
    )


@dataclass
class SPPTrainingArguments(TrainingArguments):
    """``TrainingArguments`` plus what SPP pretraining adds: global batch, kernels, metrics and checkpoint export."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        **TRAINING_RANGES,
        "global_batch_windows": AT_LEAST_ONE,
        "peak_tflops": POSITIVE,
        "reflection_eval_steps": AT_LEAST_ONE,
    }

    global_batch_windows: int | None = field(
        default=None,
        metadata={
            "help": "Windows per optimizer step over all GPUs; sets gradient_accumulation_steps from the world "
            "size so a recipe means the same batch on 1 or 64 GPUs."
        },
    )
    liger: str = field(
        default="auto",
        metadata={
            "values": "spp.kernels:LIGER_MODES",
            "help": "Liger kernels: auto (on CUDA when installed), on (required) or off.",
        }
    )
    liger_kernels: str = field(
        default=",".join(LIGER_KERNELS), metadata={"help": f"Comma-separated Liger kernels among {LIGER_KERNELS}."}
    )
    compile_layers: bool = field(
        default=False, metadata={"help": "torch.compile each decoder layer (not the fused loss)."}
    )
    fp8: bool = field(
        default=False,
        metadata={
            "help": "Float8 training of the decoder layers' linear layers (torchao convert_to_float8_training, "
            "dynamic scaling, float32 master weights; embeddings and LM head stay bf16). Needs a GPU of compute "
            "capability >= 8.9 (H100/H200) and pip install 'spp[fp8]'; refused (exit 2) elsewhere. Check the loss "
            "against bf16 first: benchmarks/pretrain_throughput.py runs the A/B."
        },
    )
    fp8_recipe: str = field(
        default="tensorwise",
        metadata={
            "help": "torchao float8 recipe: tensorwise (fastest), rowwise or rowwise_with_gw_hp (more accurate).",
            "choices": list(FP8_RECIPES),
        },
    )
    peak_tflops: float = field(
        default=989.0, metadata={"help": "Peak bf16 dense TFLOP/s per GPU for MFU (H100 SXM: 989)."}
    )
    reflection_eval_steps: int | None = field(
        default=None, metadata={"help": "Held-out reflection/document loss every N steps (default: logging_steps)."}
    )
    checkpoint_export_dir: str | None = field(
        default=None, metadata={"help": "Export every checkpoint as a step-* branch folder here (no Hub needed)."}
    )
    hub_max_pending_uploads: int = field(
        default=4,
        metadata={
            "help": "Checkpoints that may wait for upload behind the one uploading; at the limit, training waits "
            "(logged) instead of staging more (0 = unbounded)."
        },
    )
    overwrite: bool = field(
        default=False,
        metadata={
            "help": "Replace what spp wrote in output_dir (another recipe's or data view's run, or another stage's "
            "output) and another run's main/step-* refs in checkpoint_export_dir or hub_model_id. Only spp's files "
            "go; a folder spp did not write is never touched."
        },
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Kept False: packed batches carry shift_labels, a model kwarg."}
    )

    def __post_init__(self) -> None:
        check_output_dir(self.output_dir)
        super().__post_init__()
        check_fp8(self)  # fp8 where it cannot run: exit 2 before any data or model is loaded


CONFIG_TYPES = [SPPModelArguments, SPPDataArguments, SPPTrainingArguments]  # what spp pretrain parses, in order
