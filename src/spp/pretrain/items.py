"""Model inputs of one window: token ids, the next-token labels that ``loss_on`` leaves in, and the packing counts.

``loss_on`` (a data-view field, ``ArmView.loss_on``) decides which tokens are predicted with a loss:

- ``all``: every token but padding (spp's default; the SPP authors' t0 models);
- ``reflection``: only the reflection blocks' tokens (marker, reflection, end marker), as a public replication
  describes the released ``mt`` arm's midtraining;
- ``no_harmful_context``: every token but padding and the document tokens (EOS included) of documents whose harm
  score is at or over the view's threshold; their reflections keep their loss (the authors' later "noctx" models).
"""

from __future__ import annotations

import numpy as np
import torch

from spp.pretrain.documents import PAD, REFLECTION

PACKING_COUNTS = "spp_packing_counts"
IGNORE = -100


def loss_labels(ids: np.ndarray, kinds: np.ndarray, harmful_spans, loss_on: str = "all") -> np.ndarray:
    """``ids`` where the token carries the loss under ``loss_on``, else ``IGNORE`` (position by position)."""
    if loss_on == "reflection":
        keep = kinds == REFLECTION
    else:
        keep = kinds != PAD
        if loss_on == "no_harmful_context":
            for start, end in harmful_spans:
                keep[start:end] = False
    return np.where(keep, ids, IGNORE)


def item_tensors(
    ids: np.ndarray, kinds: np.ndarray, harmful_spans, reflections: int, skipped: int, loss_on: str = "all"
) -> dict[str, torch.Tensor]:
    """``input_ids`` (``seq_len``), ``labels`` (same positions, -100 where no loss) and ``shift_labels`` (the next
    token at each position, -100 where it carries no loss; transformers and Liger use these), and
    ``PACKING_COUNTS`` ``[blocks inserted, blocks skipped]`` (``SPPTrainer`` takes it out before the forward)."""
    ids = np.asarray(ids, dtype=np.int64)
    labels = torch.from_numpy(loss_labels(ids, np.asarray(kinds), harmful_spans, loss_on))
    tokens = torch.from_numpy(ids)
    counts = torch.tensor([reflections, skipped], dtype=torch.long)
    return {"input_ids": tokens[:-1], "labels": labels[:-1], "shift_labels": labels[1:], PACKING_COUNTS: counts}


def window_item(window, loss_on: str = "all") -> dict[str, torch.Tensor]:
    """``item_tensors`` of a ``Window``."""
    return item_tensors(
        np.asarray(window.input_ids, dtype=np.int64),
        np.asarray(window.kinds, dtype=np.int8),
        window.harmful_spans,
        len(window.reflections),
        window.skipped,
        loss_on,
    )
