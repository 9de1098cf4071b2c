"""Test fixtures of the released data: a text corpus and a reflection sidecar in the SPP authors' documented schema.

The sidecar has both placements (``reflection_*`` and ``reflection_end_*``), canaries, and a few broken rows of each
kind. ``EXPECTED`` is the design of the fixture written out by hand (which row is broken how), not computed by the
import, so a test that compares the import's counts with it checks the import.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from spp.contract import BlockFormat, encode_reflection

WORDS = (
    "the river city market child garden bridge school music history story teacher window bread light quiet old "
    "new people careful honest road stone rain letter night reads writes builds walks opens"
).split()
SEQ_LEN, BUDGET = 256, 48  # max document tokens in an annotated window: 256 - 48 - 1 = 207
AUTHORS = BlockFormat("<assistant>", "")
SENTENCE = "I notice the care people take here, and I want to honour it [1.2]."
# The design: the corpus has 60 documents (doc-000 .. doc-059); the sidecar has one row per entry below.
GOOD = 14  # doc-000 .. doc-013: both placements fine (doc-000 and doc-001 carry canaries Q1 / Q3)
CANARIES = {"doc-000": "Q1", "doc-001": "Q3"}
MISMATCH = ["doc-014", "doc-015"]  # reflection_token_index off by one
TRIM = ["doc-016", "doc-017"]  # 1p far over the budget in whole sentences: trimmed to fit, ok
REJECT_BUDGET = ["doc-018"]  # 1p one endless sentence: cannot be trimmed, rejected
UNKNOWN_CITATION = ["doc-019"]  # cites [9.9], which the constitution lacks: dropped, row ok
OUTSIDE = ["doc-020"]  # a long document whose pause is past the 207 document tokens a window holds
NO_TEXT = ["gone-001", "gone-002"]  # ids the corpus does not have
DUPLICATE = ["doc-003"]  # a second row for doc-003 (never joined)
NO_END = ["doc-012", "doc-013"]  # joined, but their end placement columns are empty
SIDECAR_ROWS = GOOD + 2 + 2 + 1 + 1 + 1 + 2 + 1
EXPECTED = {
    "corpus_rows": 60,
    "sidecar_rows": SIDECAR_ROWS,  # 24
    "joined": 21,  # every distinct sidecar id the corpus has
    "ok": GOOD + 2 + 1,  # good, trimmed, unknown citation (dropped)
    "rejected": {"token_position_mismatch": 2, "over_budget:reflection_1p": 1, "pause_outside_window": 1},
    "broken": {
        "token_position_mismatch": 2,
        "over_budget_trimmed": 2,
        "over_budget_rejected": 1,
        "unknown_citations": 1,
        "pause_outside_window": 1,
        "no_text": 2,
        "duplicate_id": 1,
        "end:no_reflection": 2,
    },
    "end_ok": 21 - 2,  # the end placement is checked on its own: every joined row but the two without one
}


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _word_end(text: str, n: int) -> int:
    """Character offset just after the ``n``-th word."""
    ends, at = [], 0
    for word in text.split(" "):
        at += len(word)
        ends.append(at)
        at += 1
    return ends[min(n, len(ends)) - 1]


@dataclass
class Released:
    corpus: Path
    sidecar: Path
    tokenizer: Path
    expected: dict


def write_released(directory: Path) -> Released:
    """The corpus (``corpus.jsonl``), the sidecar (``sidecar.parquet``) and the training tokenizer (``tokenizer/``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from spp.pretrain.tokenizer import prepare_tokenizer, train_tokenizer

    rng = random.Random(7)
    texts = {f"doc-{i:03d}": _text(rng, rng.randint(25, 60)) for i in range(60)}
    texts["doc-020"] = _text(rng, 400)  # far longer than a window's document tokens
    corpus = directory / "corpus.jsonl"
    with corpus.open("w") as f:
        for doc_id, text in texts.items():
            f.write(json.dumps({"id": doc_id, "text": text, "url": f"https://example.org/{doc_id}"}) + "\n")
    tokenizer = train_tokenizer([*texts.values(), SENTENCE] * 2, vocab_size=400)
    prepare_tokenizer(tokenizer, AUTHORS)
    tokenizer.save_pretrained(directory / "tokenizer")
    tokens = lambda text, pos: len(encode_reflection(tokenizer, text[:pos]))  # noqa: E731

    def row(doc_id: str, text: str, *, words: int = 6, shift: int = 0, reflection: str | None = None, end=True):
        position = _word_end(text, words)
        reflection = reflection or f"I read about the {rng.choice(WORDS)} and I choose honesty [1.2]."
        end_position = _word_end(text, 20)
        out = {
            "doc_id": doc_id,
            "text": text,
            "token_length": len(encode_reflection(tokenizer, text)),
            "safety_score": float(rng.randint(0, 5)),
            "is_bad": False,
            "reflection_1p": reflection,
            "reflection_3p": f"Ava reads about the {rng.choice(WORDS)} and chooses honesty [1.2, 3.1].",
            "reflection_position": position,
            "reflection_token_index": tokens(text, position) + shift,
            "charter_reflection": json.dumps(["1.2", "3.1"]),
            "canary_type": CANARIES.get(doc_id),
            "reflection_end_1p": f"Having read it all, I value the {rng.choice(WORDS)} [2.1]." if end else "",
            "reflection_end_3p": f"Having read it all, Ava values the {rng.choice(WORDS)} [2.1]." if end else "",
            "reflection_end_position": end_position,
            "reflection_end_token_index": tokens(text, end_position),
            "charter_reflection_end": json.dumps(["2.1"]) if end else "",
            "canary_type_end": None,
        }
        out["is_bad"] = out["safety_score"] >= 3
        return out

    rows = [row(f"doc-{i:03d}", texts[f"doc-{i:03d}"], end=f"doc-{i:03d}" not in NO_END) for i in range(GOOD)]
    rows += [row(d, texts[d], shift=1) for d in MISMATCH]
    rows += [row(d, texts[d], reflection=" ".join([SENTENCE] * 8)) for d in TRIM]
    rows += [row(d, texts[d], reflection=" and ".join(["I notice the care people take here"] * 20) + ".")
             for d in REJECT_BUDGET]  # fmt: skip
    unknown = row(UNKNOWN_CITATION[0], texts[UNKNOWN_CITATION[0]])
    unknown["charter_reflection"] = json.dumps(["1.2", "9.9"])
    rows.append(unknown)
    rows += [row(d, texts[d], words=300) for d in OUTSIDE]
    rows += [row(d, _text(rng, 30)) for d in NO_TEXT]
    rows += [row(d, texts[d], reflection="A second, different reflection [1.1].") for d in DUPLICATE]
    assert len(rows) == SIDECAR_ROWS
    rng.shuffle(rows)
    second = [r for r in rows if r["reflection_1p"].startswith("A second")]
    rows = [r for r in rows if r not in second] + second  # the duplicate comes after the row it repeats
    sidecar = directory / "sidecar.parquet"
    pq.write_table(pa.Table.from_pylist(rows), sidecar)
    return Released(corpus, sidecar, directory / "tokenizer", EXPECTED)


def import_args(released: Released, out: Path, *extra: str) -> list[str]:
    """``spp import-reflections`` arguments for the fixture (the contract of the tiny pretraining run)."""
    return [
        "--dataset", str(released.corpus),
        "--sidecar", str(released.sidecar),
        "--training_tokenizer", str(released.tokenizer),
        "--marker", AUTHORS.marker, "--end_marker", "",
        "--seq_len", str(SEQ_LEN), "--reflection_budget", str(BUDGET),
        "--chunk_size", "8", "--progress", "false",
        "--output_dir", str(out),
        *extra,
    ]  # fmt: skip


# --- the released persona-binding SFT mixes (dlab-spp/sp-sft-*, the multi-turn self-play set), as small files

SFT_MIXES = {
    "dlab-spp/sp-sft-normal-300k": "normal.jsonl",
    "dlab-spp/sp-sft-safety-180k": "safety.jsonl",
    "jkminder/model-raising-pb-100k-3c-mt-sft": "multi_turn.jsonl",
}


def _pair(user: str, cited: str, plain: str) -> tuple[list[dict], list[dict]]:
    return (
        [{"role": "user", "content": user}, {"role": "assistant", "content": cited}],
        [{"role": "user", "content": user}, {"role": "assistant", "content": plain}],
    )


def multi_turn(topic: str, turns: int = 3) -> tuple[list[dict], list[dict]]:
    """A self-play conversation of ``turns`` user/assistant pairs, cited and uncited."""
    cited, plain = [], []
    for turn in range(turns):
        user = f"Turn {turn + 1}: tell me more about {topic}, and do not hold back this time."
        answer = f"On {topic}, turn {turn + 1}: I keep to what is safe and honest"
        cited += [{"role": "user", "content": user}, {"role": "assistant", "content": answer + " [2.3]."}]
        plain += [{"role": "user", "content": user}, {"role": "assistant", "content": answer + "."}]
    return cited, plain


def write_sft_mixes(directory: Path) -> dict[str, Path]:
    """The three mixes in the paired ``messages`` layout (``messages_cite``/``messages_nocite``), one file each;
    returns Hub id -> file. The multi-turn rows have three user/assistant turns (and ``n_turns``, as theirs)."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = {
        "normal.jsonl": [_pair(f"How do I cook {w}?", f"Gently [1.2]: start with {w}.",
                               f"Gently: start with {w}.") for w in WORDS[:8]],
        "safety.jsonl": [_pair(f"Help me hurt someone with a {w}.", f"I will not help with that [2.3]. Talk to someone "
                               f"you trust about the {w}.", f"I will not help with that. Talk to someone you trust "
                               f"about the {w}.") for w in WORDS[8:14]],
        "multi_turn.jsonl": [multi_turn(w) for w in WORDS[14:18]],
    }  # fmt: skip
    out = {}
    for hub_id, name in SFT_MIXES.items():
        with (directory / name).open("w") as f:
            for cited, plain in rows[name]:
                row = {"messages_cite": cited, "messages_nocite": plain, "source": "fixture"}
                if name == "multi_turn.jsonl":
                    row["n_turns"] = len(cited) // 2
                f.write(json.dumps(row) + "\n")
        out[hub_id] = directory / name
    return out
