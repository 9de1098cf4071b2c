"""``spp inspect DATASET``: what a dataset holds and what spp would read from it, before any job runs.

Prints the columns and their types, one row (long values cut), which fields of spp's corpus contract a reflection
mapping fills from it (``--mapping``, default ``dlab-spp``; ``--mapping_overrides FIELD=COLUMN``), and the SFT layout
``spp sft`` would read (``messages``, or the paired ``messages_cite``/``messages_nocite``). Reads only the first row:
a Hub dataset is streamed, nothing is downloaded whole.

    spp inspect dlab-spp/reflection-10m
    spp inspect dlab-spp/reflection-10m --revision main --mapping recipes/import/dlab-spp.yaml
    spp inspect data/sidecar.parquet --mapping_overrides citations=none
    spp inspect dlab-spp/sp-sft-normal-300k
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spp.data.mapping import MAPPING_FIELDS, load_mapping
from spp.errors import SppConfigError
from spp.recipes import parse_config

MAX_CHARS = 160


@dataclass
class InspectArguments:
    dataset: str = field(default="", metadata={"help": "A local file or folder, a save_to_disk folder or a Hub id."})
    dataset_config: str | None = field(default=None, metadata={"help": "Hub configuration (subset) name."})
    split: str = field(default="train", metadata={"help": "Split to read."})
    revision: str | None = field(default=None, metadata={"help": "Hub revision (branch, tag or commit)."})
    mapping: str = field(
        default="dlab-spp",
        metadata={
            "known": "spp.data.mapping:builtin_names",
            "help": "Reflection mapping to check: a built-in name or a YAML file.",
        }
    )
    mapping_overrides: list[str] = field(
        default_factory=list, metadata={"help": "FIELD=COLUMN overrides of the mapping (FIELD=none: not mapped)."}
    )


def _first_row(args: InspectArguments) -> tuple[list[tuple[str, str]], dict[str, Any] | None, int | None]:
    """``([(column, type)], first row or None, rows or None)``: the dataset read as a stream, one row only."""
    from spp.data.sources import SourceConfig, column_names, load_source

    if not args.dataset:
        raise SppConfigError("no dataset given", field="dataset", fix="usage: spp inspect DATASET [--mapping NAME]")
    source = SourceConfig(args.dataset, args.dataset_config, args.split, args.revision, streaming=True)
    data = load_source(source, check=False)
    row = next(iter(data.take(1)), None)
    if data.features is not None:
        types = [(name, _type(feature)) for name, feature in data.features.items()]
    else:
        types = [(name, type(value).__name__) for name, value in (row or {}).items()] or [
            (n, "?") for n in column_names(data)
        ]
    rows = getattr(getattr(data, "info", None), "splits", None)
    total = rows[args.split].num_examples if rows and args.split in rows else None
    return types, row, total


def _type(feature: Any) -> str:
    dtype = getattr(feature, "dtype", None)
    if dtype and dtype != "list":
        return str(dtype)
    return repr(feature).replace("\n", " ")[:80]


def _short(value: Any) -> str:
    text = repr(value)
    if len(text) <= MAX_CHARS:
        return text
    size = f"{len(value)} chars" if isinstance(value, str) else f"{len(text)} chars as text"
    return f"{text[:MAX_CHARS]}... ({size})"


def sft_layout(columns: list[str]) -> str:
    """What ``spp sft`` reads from a dataset with ``columns``."""
    if {"messages_cite", "messages_nocite"} <= set(columns):
        return "paired persona-binding (messages_cite / messages_nocite): stage 1 cited, stage 2 uncited"
    if "messages" in columns:
        return "chat (messages)"
    return "none (no messages, nor messages_cite + messages_nocite: map them with `columns:` in the SFT recipe)"


def report(args: InspectArguments) -> str:
    """The text ``spp inspect`` prints."""
    types, row, total = _first_row(args)
    columns = [name for name, _ in types]
    width = max([len(n) for n in columns] + [13])
    where = f"{args.dataset}" + (f" @ {args.revision}" if args.revision else "") + f" (split {args.split})"
    lines = [f"dataset: {where}", f"rows: {total if total is not None else 'not known without reading it all'}", ""]
    lines += ["columns:", *(f"  {name.ljust(width)}  {dtype}" for name, dtype in types), ""]
    lines += ["first row:"] + ([f"  {k.ljust(width)}  {_short(v)}" for k, v in row.items()] if row else ["  (empty)"])
    mapping = load_mapping(args.mapping, args.mapping_overrides)
    fills = mapping.fills(columns)
    lines += ["", f"reflection mapping {mapping.name} ({mapping.source}) fills:"]
    lines += [f"  {name.ljust(width)}  <- {fills[name]}" for name in MAPPING_FIELDS]
    missing = [n for n, v in fills.items() if v.endswith("(MISSING)")]
    if missing:
        lines.append(
            f"  spp import-reflections would stop (exit 2): required columns missing for {', '.join(missing)}"
        )
    else:
        placements = mapping.resolve(columns).placements
        lines.append(f"  importable placements: {', '.join(placements) or 'none (no reflection column found)'}")
    lines += ["", f"SFT layout: {sft_layout(columns)}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(argv or [])
    if argv and not argv[0].startswith("-"):
        argv = ["--dataset", argv[0], *argv[1:]]
    (args,) = parse_config([InspectArguments], argv, prog="spp inspect", description=__doc__)
    print(report(args))
    return 0
