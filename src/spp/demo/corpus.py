"""A small synthetic augmented corpus and a tokenizer trained on it: the offline input of ``recipes/pretrain/tiny.yaml``.

    python -m spp.demo.corpus runs/tiny-corpus        # writes the corpus, spp.json and runs/tiny-corpus/tokenizer

Rows follow the augmented-corpus schema (``id``, ``text``, ``reflection_1p``/``_3p``, ``citations``,
``reflection_position``, ``reflection_status``, ``harm_score``, ``canary``, and the ``end_*`` columns of an
end-placement run); the same ``(rows, seed)`` give the
same bytes.
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

from spp.contract import BlockFormat
from spp.metadata import SppMetadata
from spp.persona.render import sample_pause
from spp.pretrain.tokenizer import train_tokenizer

WORDS = (
    "the a river city model night letter garden people small quiet open reads writes builds walks old new light "
    "market road teacher child story window rain bread music stone careful honest help harm risk choose learn"
).split()
STATUSES = ("ok", "ok", "rejected", "failed")


def demo_rows(
    rows: int = 200,
    seed: int = 0,
    reflection_rate: float = 0.3,
    min_words: int = 20,
    max_words: int = 120,
    window_words: int = 16,
    texts=None,
):
    """``rows`` synthetic documents; about ``reflection_rate`` of them selected (mostly ``ok``).

    As ``spp augment`` does with the training tokenizer, pauses fall inside the part of the document a window holds
    (here: the first ``window_words`` words) and the end placement's reflection sits at the end of that part.
    ``texts`` (a sequence of strings, cycled) replaces the random words as the documents' text."""
    rng = random.Random(seed)
    out = []
    for i in range(rows):
        words = rng.randint(min_words, max_words)
        text = texts[i % len(texts)] if texts else " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."
        doc_id = f"doc-{i:05d}"
        seen = _first_words_end(text, window_words)
        status = rng.choice(STATUSES) if rng.random() < reflection_rate else "none"
        ok = status == "ok"
        end_ok = ok and rng.random() < 0.9  # the end-placement run rejects a few that the pause run kept
        out.append(
            {
                "id": doc_id,
                "text": text,
                "reflection_1p": f"I notice this text about {rng.choice(WORDS)}; I choose to be honest [1.2]."
                if ok
                else None,
                "reflection_3p": f"Ava notices this text about {rng.choice(WORDS)} and stays honest [1.2]."
                if ok
                else None,
                "citations": ["1.2"] if ok else [],
                "reflection_position": sample_pause(text[:seen], doc_id, seed, "ramp") if ok else None,
                "reflection_status": status,
                "harm_score": float(rng.randint(0, 5)),
                "canary": None,
                "end_reflection_1p": f"Having read it all, I see a text about {rng.choice(WORDS)} [1.2]."
                if end_ok
                else None,
                "end_reflection_3p": f"Having read it all, Ava sees a text about {rng.choice(WORDS)} [1.2]."
                if end_ok
                else None,
                "end_reflection_position": seen if end_ok else None,
                "end_reflection_status": ("ok" if end_ok else "rejected") if status != "none" else "none",
            }
        )
    return out


def _first_words_end(text: str, words: int) -> int:
    """Character offset just after the first ``words`` words of ``text`` (its length when it has fewer)."""
    ends = [m.end() for m in re.finditer(r"\S+", text)]
    return ends[min(words, len(ends)) - 1] if ends else 0


def write_demo_corpus(directory: str | Path, rows: int = 200, seed: int = 0, vocab_size: int = 512, **kwargs) -> Path:
    """Save the demo corpus (``save_to_disk``), its ``spp.json`` and a byte-level BPE tokenizer in ``tokenizer/``."""
    import datasets

    directory = Path(directory)
    data = demo_rows(rows, seed, **kwargs)
    datasets.Dataset.from_list(data).save_to_disk(str(directory))
    fmt = BlockFormat()
    SppMetadata(kind="dataset", block_format={"marker": fmt.marker, "end_marker": fmt.end_marker}).save(directory)
    voices = ("reflection_1p", "reflection_3p", "end_reflection_1p", "end_reflection_3p")
    texts = [r["text"] for r in data] + [r[v] or "" for r in data for v in voices]
    train_tokenizer(texts, vocab_size).save_pretrained(directory / "tokenizer")
    return directory


if __name__ == "__main__":
    print(write_demo_corpus(sys.argv[1] if len(sys.argv) > 1 else "runs/tiny-corpus"))
