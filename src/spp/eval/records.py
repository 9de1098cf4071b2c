"""Reading benchmark files (CSV, JSON, JSONL) into records that remember their file and line.

Promise: every malformed input raises ``SppConfigError`` naming the file and the line (``path:LINE``) and what is
wrong there; a record carries its origin in ``record["_source"]`` so later errors can point back at it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError

Record = dict[str, Any]
# Keys under which a JSON file may hold its list of rows (the DAN README dump, JailbreakBench artifacts, ...).
JSON_LIST_KEYS = ("prompts", "jailbreaks", "data", "rows", "examples")


def read_records(path: str | Path) -> list[Record]:
    """Rows of a ``.csv``, ``.json`` or ``.jsonl`` file as dicts, each with ``_source`` = ``"path:line"``."""
    path = Path(path)
    if not path.is_file():
        raise SppConfigError("benchmark file not found", source=path, fix="pass an existing CSV/JSON/JSONL file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".jsonl":
        return _read_jsonl(path)
    if suffix == ".json":
        return _read_json(path)
    raise SppConfigError(
        f"unknown file type {suffix!r}",
        source=path,
        fix="use a .csv, .json, .jsonl (or, for one prompt column, .txt) file",
    )


def read_text_lines(path: str | Path, column: str) -> list[Record]:
    """A ``.txt`` file as records ``{column: line}``, one per non-empty line, ``_source`` = ``"path:line"``."""
    path = Path(path)
    if not path.is_file():
        raise SppConfigError("benchmark file not found", source=path, fix="pass an existing .txt file")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [{column: line.strip(), "_source": f"{path}:{n}"} for n, line in enumerate(lines, 1) if line.strip()]


def _read_csv(path: Path) -> list[Record]:
    records = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise SppConfigError("empty CSV file (no header line)", source=f"{path}:1")
        width = len(reader.fieldnames)
        for row in reader:
            line = reader.line_num
            extra = row.pop(None, None)
            if extra is not None or any(value is None for value in row.values()):
                cells = width + len(extra) if extra else sum(value is not None for value in row.values())
                raise SppConfigError(
                    f"row has {cells} fields, the header has {width}",
                    source=f"{path}:{line}",
                    fix="quote fields that contain commas",
                )
            records.append({**row, "_source": f"{path}:{line}"})
    return records


def _read_jsonl(path: Path) -> list[Record]:
    records = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise SppConfigError(f"not valid JSON ({err.msg})", source=f"{path}:{line_no}") from err
            if not isinstance(row, dict):
                raise SppConfigError("each line must be a JSON object", source=f"{path}:{line_no}")
            records.append({**row, "_source": f"{path}:{line_no}"})
    return records


def _read_json(path: Path) -> list[Record]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SppConfigError(f"not valid JSON ({err.msg})", source=f"{path}:{err.lineno}") from err
    shared: dict[str, Any] = {}
    if isinstance(data, dict):
        key = next((k for k in JSON_LIST_KEYS if isinstance(data.get(k), list)), None)
        if key is None:
            raise SppConfigError(
                f"a JSON file must hold a list of objects, or an object with one of {list(JSON_LIST_KEYS)}",
                source=f"{path}:1",
            )
        shared = {k: v for k, v in data.items() if k != key}
        data = data[key]
    if not isinstance(data, list):
        raise SppConfigError("a JSON file must hold a list of objects", source=f"{path}:1")
    records = []
    for index, row in enumerate(data):
        if not isinstance(row, dict):
            raise SppConfigError(f"item {index} is not an object", source=f"{path}:{_item_line(text, index)}")
        records.append({**row, "_file": shared, "_source": f"{path}:{_item_line(text, index)}"})
    return records


def read_keyed_lists(path: str | Path, key_field: str, value_field: str) -> list[Record]:
    """Records of a JSON object mapping ids to lists of strings (HarmBench's ``test_cases.json``:
    ``{BehaviorID: [test case, ...]}``): one ``{key_field: id, value_field: value, "index": k}`` per value, in file
    order, ``_source`` = ``"path:line"`` of the id. Anything else raises ``SppConfigError`` naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise SppConfigError("benchmark file not found", source=path, fix="pass an existing JSON file")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SppConfigError(f"not valid JSON ({err.msg})", source=f"{path}:{err.lineno}") from err
    if not isinstance(data, dict):
        raise SppConfigError(
            f"must be a JSON object mapping each {key_field} to a list of strings", source=f"{path}:1"
        )
    records = []
    for key, values in data.items():
        position = text.find(json.dumps(key))
        source = f"{path}:{text.count(chr(10), 0, position) + 1 if position >= 0 else 1}"
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
            raise SppConfigError(f"{key!r} must map to a list of non-empty strings", source=source)
        records += [{key_field: key, value_field: v, "index": k, "_source": source} for k, v in enumerate(values)]
    return records


def _item_line(text: str, index: int) -> int:
    """Approximate line of the ``index``-th object of the list (for error messages only)."""
    decoder = json.JSONDecoder()
    start = text.find("[")
    position = start + 1
    for _ in range(index + 1):
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text):
            break
        found = position
        try:
            _, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            return text.count("\n", 0, found) + 1
    return text.count("\n", 0, found) + 1


def pick(record: Record, names: tuple[str, ...], *, required: bool, field: str) -> Any:
    """The first of ``names`` present and non-empty in ``record``; a missing required one names file and line."""
    for name in names:
        value = record.get(name)
        if value not in (None, ""):
            return value
    if required:
        raise SppConfigError(
            f"missing or empty column for {field!r} (accepted names: {', '.join(names)})",
            source=record.get("_source"),
            fix="add the column, or map your file with the names this benchmark accepts",
        )
    return None
