"""The demo's material lives in ``spp.demo`` (test fixtures in ``spp.testing``) and ships in the wheel.

- ``spp demo`` reads its recipe from the installed package: a data file that no ``package-data`` glob of
  ``pyproject.toml`` matches is missing from the wheel (an editable install would not notice).
- The library's stage packages hold no demo or toy builders and the data and pretraining stages do not depend on
  the demo or on test fixtures.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from spp.demo import DEMO_RECIPE

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "spp"
STAGE_PACKAGES = ("data", "pretrain", "experiment")
DEMO_WORDS = re.compile(r"demo|toy|tiny", re.IGNORECASE)


def _modules(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


def test_every_data_file_is_package_data_so_spp_demo_runs_from_a_wheel():
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["spp"]
    shipped = {path for pattern in globs for path in PACKAGE.glob(pattern)}
    files = [p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    data_files = {p for p in files if p.suffix != ".py"}
    recipe = PACKAGE / "demo" / "data" / "demo.yaml"
    assert DEMO_RECIPE.resolve() == recipe.resolve() and recipe in shipped
    assert sorted(str(p.relative_to(PACKAGE)) for p in data_files - shipped) == []


def test_stage_packages_hold_no_demo_or_toy_builders():
    found = []
    for package in STAGE_PACKAGES:
        for module in _modules(package):
            rel = module.relative_to(PACKAGE)
            if DEMO_WORDS.search(module.stem):
                found.append(str(rel))
            tree = ast.parse(module.read_text(encoding="utf-8"))
            defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
            found += [f"{rel}:{n.name}" for n in defs if DEMO_WORDS.search(n.name)]
    assert found == []


def test_data_and_pretrain_import_neither_the_demo_nor_test_fixtures():
    found = []
    for package in ("data", "pretrain"):
        for module in _modules(package):
            for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
                bad = [n for n in names if n.startswith(("spp.demo", "spp.testing"))]
                found += [f"{module.relative_to(PACKAGE)}: {n}" for n in bad]
    assert found == []
