"""``[X.Y]`` constitution citations in prose: found and removed without touching code, maths or other brackets.

A citation is a run of bracket groups of section ids (``[2.3]``, ``[1.2, 1.4]``, ``[1.2][1.4]``) in prose: not inside a
code span or code block, and not where a bracket is code (right after an identifier, ``)``, ``]``, ``(``, ``,``, ``=``
or an operator, as in ``x[1.2]``, ``np.array([1.0, 2.0])``, ``v = [1.1, 2.3]``).
"""

from __future__ import annotations

import re
from collections.abc import Collection

_GROUP = r"\[\s*\d+\.\d+\s*(?:[,;]\s*\d+\.\d+\s*)*\]"
_RUN = rf"(?:{_GROUP})+"
CITATION = re.compile(rf"(?m)^(?P<head>{_RUN})[ \t]*|[ \t]*(?P<run>{_RUN})")
_SECTION_ID = re.compile(r"\d+\.\d+")
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)
_CODE_BEFORE = frozenset("_)]([{,=+-*/%<>|&^~@")


def _ids(match: re.Match) -> list[str]:
    return _SECTION_ID.findall(match.group("head") or match.group("run"))


def _in_prose(match: re.Match) -> bool:
    """Whether a bracket run stands where prose puts a citation, not where code puts an index or a list."""
    if match.group("head") is not None:
        return True
    text, start = match.string, match.start("run")
    adjacent = text[start - 1] if start else " "
    if not adjacent.isspace():
        return not (adjacent.isalnum() or adjacent in _CODE_BEFORE)
    before = text[:start].rstrip()
    return not before or before[-1] not in _CODE_BEFORE


def _prose_segments(text: str) -> list[tuple[bool, str]]:
    """``text`` cut into ``(is_prose, part)``: code spans and code blocks are not prose."""
    parts, end = [], 0
    for code in _CODE.finditer(text):
        parts += [(True, text[end : code.start()]), (False, code.group(0))]
        end = code.end()
    return [*parts, (True, text[end:])]


def prose_citations(text: str) -> list[str]:
    """Section ids cited in the prose of ``text``, in order of first appearance (known to the constitution or not)."""
    seen: dict[str, None] = {}
    for prose, part in _prose_segments(text):
        for match in CITATION.finditer(part) if prose else ():
            if _in_prose(match):
                seen.update(dict.fromkeys(_ids(match)))
    return list(seen)


def strip_citations(text: str, section_ids: Collection[str]) -> str:
    """``text`` without its prose citations whose every id is in ``section_ids`` (and the space in front of one)."""
    known = set(section_ids)

    def strip(match: re.Match) -> str:
        return "" if _in_prose(match) and set(_ids(match)) <= known else match.group(0)

    return "".join(CITATION.sub(strip, part) if prose else part for prose, part in _prose_segments(text))
