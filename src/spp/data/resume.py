"""What a rerun of ``spp augment`` checks before it reuses committed chunks: the corpus is the one they came from.

Promises (see ``spp.data.identity`` for the fingerprints):
- A committed chunk whose input rows no longer match the corpus is refused naming the change (exit 2), or, with
  ``on_corpus_change: redo``, deleted so that it is generated again.
- A corpus of another length is refused naming both lengths, or, with ``redo``, recorded as the new length.
"""

from __future__ import annotations

import logging
from pathlib import Path

from spp.data.identity import describe_change
from spp.data.shards import JobState, corpus_length_changed
from spp.errors import SppConfigError

CORPUS_CHANGE_POLICIES = ("error", "redo")  # on_corpus_change: refuse a changed corpus, or redo what it changed

logger = logging.getLogger("spp.data")


class ResumeCheck:
    """The corpus checks of one job folder, under the job's ``on_corpus_change`` rule (``error`` or ``redo``)."""

    def __init__(self, state: JobState, output_dir: Path, on_corpus_change: str, num_shards: int, text_column: str):
        self.state = state
        self.output_dir = output_dir
        self.on_corpus_change = on_corpus_change
        self.num_shards = num_shards
        self.text_column = text_column

    def committed_matches(self, index: int, batch: dict[str, list], fingerprint: str, ids_of) -> bool:
        """Whether committed chunk ``index`` still matches the corpus; raises naming the change (or, with
        ``on_corpus_change: redo``, deletes the chunk and returns ``False``). ``ids_of(batch, texts)`` gives the
        output ids of the batch's rows."""
        meta = self.state.checked_meta(index, self.num_shards)
        if meta.get("input_fingerprint") in (None, fingerprint):
            return True
        if self.on_corpus_change == "redo":
            logger.warning("chunk %d: its input rows changed; generating it again", index)
            self.state.chunk_path(index).unlink()
            return False
        old = self.state.read_chunk(index).select(["id", "text"]).to_pydict()
        text = batch[self.text_column]
        new_ids = ids_of(batch, text)
        first = index * self.state.chunk_size
        change = describe_change(first, old["id"], new_ids, old["text"], text)
        raise SppConfigError(
            f"the corpus changed since chunk {index} (rows {first}-{first + len(old['id']) - 1}) was generated: "
            f"{change}",
            source=self.output_dir,
            field="dataset",
            fix="restore the corpus, use a new output_dir, pass --on_corpus_change redo (regenerates only the "
            "chunks whose rows changed) or --overwrite true",
        )

    def length_changed(self, was: int, now: int | None) -> None:
        """``now`` is ``None`` for a stream found longer than ``was`` (its new length is known at its end)."""
        if self.on_corpus_change == "redo":
            logger.warning("the corpus is no longer %d rows long: regenerating the chunks that changed", was)
            self.state.set_corpus_rows(now)
            return
        raise corpus_length_changed(self.output_dir, was, now)
