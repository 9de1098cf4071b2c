"""The plan table ``spp experiment --dry_run`` prints (``spp.experiment.summary``), read back as a script would."""

from __future__ import annotations


def table_rows(out: str) -> list[dict[str, str]]:
    """One dict per row of the first table in ``out`` (column name -> cell), the totals row last; columns are cut
    where the rule under the header puts them."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#  ") and "step" in line)
    header, rule = lines[start], lines[start + 1]
    spans, position = [], 0
    for dashes in rule.split("  "):
        spans.append((position, position + len(dashes)))
        position += len(dashes) + 2
    names = [header[a:b].strip() for a, b in spans[:-1]] + [header[spans[-1][0] :].strip()]
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        if set(line.replace(" ", "")) == {"-"}:
            continue
        cells = [line[a:b].strip() for a, b in spans[:-1]] + [line[spans[-1][0] :].strip()]
        rows.append(dict(zip(names, cells, strict=True)))
    return rows
