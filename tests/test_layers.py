"""The import graph of ``src/spp`` has layers: no cycle between subpackages (or top-level modules), none between
modules, and the reflection contract is the ground floor.

The graph is read from the source (``ast``), not from ``sys.modules``: every ``import`` and ``from ... import``
statement counts wherever it stands (module level, inside a function or method, inside ``try``), relative imports
resolved; ``from package import name`` counts as an import of ``package`` and, when ``name`` is a module, of
``package.name`` too.

What it does not count, on purpose:

- a ``"module:attr"`` target string in a registry (``spp.stages``, ``spp.hub.cards.DATASET_CARDS``,
  ``spp.experiment.config.EMBEDDED_RECIPES``, ...) or any other ``importlib.import_module`` of a computed name: late
  binding by name, resolved only when that entry is used, is how a lower layer lets a higher one plug in;
- for the module cycles only, imports under ``if TYPE_CHECKING:`` (they never run; a type named in an annotation).
  The subpackage check counts them too: a lower layer does not name a higher layer's types either.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
GROUND_FLOOR = {"spp.errors", "spp.metadata"}  # all that spp.contract may import


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                found |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return found


def import_graph(root: Path, package: str = "spp") -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """``(runtime, typing_only)``: for every module under ``root/package``, the modules of ``package`` it imports
    (see the module docstring), split by whether the import runs."""
    files = {_module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}
    runtime: dict[str, set[str]] = defaultdict(set)
    typing_only: dict[str, set[str]] = defaultdict(set)
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        hidden = _type_checking_nodes(tree)
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here[: len(here) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [base] + [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in files]
            else:
                continue
            mine = [t for t in targets if t == package or t.startswith(package + ".")]
            (typing_only if id(node) in hidden else runtime)[name].update(t for t in mine if t != name)
    return runtime, typing_only


def unit(module: str) -> str:
    """A module's subpackage (``spp.data.job`` -> ``spp.data``), or the module itself at the top level."""
    return ".".join(module.split(".")[:2])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(set(graph) | {w for ws in graph.values() for w in ws}):
        if v not in index:
            visit(v)
    return found


def _units(*graphs: dict[str, set[str]]) -> tuple[dict[str, set[str]], dict[tuple[str, str], list[str]]]:
    """The subpackage graph and, for each of its edges, the module imports behind it (for the failure message)."""
    edges: dict[str, set[str]] = defaultdict(set)
    why: dict[tuple[str, str], list[str]] = defaultdict(list)
    for graph in graphs:
        for source, targets in graph.items():
            for target in targets:
                if unit(source) != unit(target):
                    edges[unit(source)].add(unit(target))
                    why[unit(source), unit(target)].append(f"{source} -> {target}")
    return edges, why


def _explain(components: list[list[str]], edges, why) -> str:
    lines = []
    for component in components:
        lines.append(" <-> ".join(component))
        for a in component:
            lines += [f"  {a} -> {b}: {sorted(why[a, b])}" for b in sorted(edges[a] & set(component))]
    return "\n".join(lines)


def test_no_import_cycle_between_subpackages():
    runtime, typing_only = import_graph(SRC)
    edges, why = _units(runtime, typing_only)
    found = cycles(edges)
    assert found == [], "import cycles between subpackages:\n" + _explain(found, edges, why)


def test_no_import_cycle_between_modules():
    runtime, _ = import_graph(SRC)
    found = cycles(runtime)
    assert found == [], f"import cycles between modules (imports that run): {found}"


def test_the_contract_imports_only_errors_and_metadata():
    runtime, typing_only = import_graph(SRC)
    assert runtime["spp.contract"] | typing_only["spp.contract"] == GROUND_FLOOR
    below = set(GROUND_FLOOR)  # and nothing below them reaches back up
    for module in GROUND_FLOOR:
        below |= runtime[module] | typing_only[module]
    assert below <= GROUND_FLOOR | {"spp"} and not runtime["spp"], below


def test_the_graph_sees_function_level_and_relative_imports_and_finds_their_cycles(tmp_path):
    """The checker itself: a cycle made only of an import inside a function and a relative import is found, and a
    ``TYPE_CHECKING`` import is kept apart."""
    package = tmp_path / "pkg"
    for folder in ("low", "high"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "low" / "base.py").write_text("def f():\n    from pkg.high.top import g\n    return g\n")
    (package / "high" / "top.py").write_text("from ..low import base\n\ndef g():\n    return base\n")
    (package / "high" / "hints.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.low.base import f\n"
    )
    runtime, typing_only = import_graph(tmp_path, "pkg")
    assert runtime["pkg.low.base"] == {"pkg.high.top"} and runtime["pkg.high.top"] == {"pkg.low", "pkg.low.base"}
    assert typing_only["pkg.high.hints"] == {"pkg.low.base"} and not runtime["pkg.high.hints"]
    assert cycles(runtime) == [["pkg.high.top", "pkg.low.base"]]
    edges, _ = _units(runtime)
    assert cycles(edges) == [["pkg.high", "pkg.low"]]
