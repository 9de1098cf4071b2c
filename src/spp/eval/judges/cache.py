"""``JudgeAnswerCache``: the answers a judge server gave, on disk, keyed by the exact request.

Promises:
- The key is the sha256 of the endpoint path and the request payload (judge model, rendered prompt, max tokens,
  temperature, logprobs), so an answer is reused only for the very same request; the parsing rule and threshold
  are not in the key: changing them re-reads cached answers without a call.
- Only readable answers are stored (the caller decides); an unreadable one is asked again on a rerun.
- Each answer is appended as one JSONL line, flushed, as soon as its round of requests ends, so a run stopped by a
  judge outage keeps every answer it received and a rerun sends only the missing calls. A line cut by a crash is
  skipped when read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def request_key(path: str, payload: dict[str, Any]) -> str:
    """The cache key of one request: sha256 of the endpoint path and the canonical JSON payload."""
    text = json.dumps({"path": path, "payload": payload}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class JudgeAnswerCache:
    """Judge answers (one ``choices[0]`` object each) in ``path`` (JSONL)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.answers: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a line cut by an interrupted write: that request is sent again
                    continue
                self.answers[row["key"]] = row["choice"]

    def get(self, key: str) -> dict[str, Any] | None:
        return self.answers.get(key)

    def put_many(self, entries: list[tuple[str, dict[str, Any]]]) -> None:
        if not entries:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            if handle.tell() and not self.path.read_bytes().endswith(b"\n"):
                handle.write("\n")  # close a line cut by an interrupted write before appending
            for key, choice in entries:
                self.answers[key] = choice
                handle.write(json.dumps({"key": key, "choice": choice}, ensure_ascii=False) + "\n")
            handle.flush()
