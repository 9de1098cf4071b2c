"""Built-in corpora: small real English text that ships with Python, so ``spp augment`` runs with no download.

``builtin:stdlib-docs`` is the docstrings of a fixed list of standard-library modules (module, class and function
docstrings of at least ``MIN_CHARS`` characters), read from source with ``ast`` (nothing is imported or executed).
Promises: the same Python version gives the same documents in the same order with the same ids
(``stdlib-docs/<module>.<qualname>``); the corpus "revision" is the Python version.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import platform
from collections.abc import Callable, Iterator

BUILTIN_PREFIX = "builtin:"
MIN_CHARS = 200

# Pure-Python, well documented, present in every CPython build.
STDLIB_MODULES = (
    "argparse", "ast", "asyncio.base_events", "asyncio.events", "asyncio.locks", "asyncio.queues", "asyncio.tasks",
    "base64", "bisect", "calendar", "cmd", "codecs", "collections", "concurrent.futures._base", "configparser",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "email.message", "email.utils",
    "enum", "fileinput", "fnmatch", "fractions", "ftplib", "functools", "getopt", "gettext", "glob", "gzip",
    "hashlib", "heapq", "hmac", "html.parser", "http.client", "http.cookies", "http.server", "imaplib",
    "importlib.metadata", "inspect", "ipaddress", "json", "json.decoder", "json.encoder", "locale", "logging",
    "logging.handlers", "mailbox", "mimetypes", "multiprocessing.pool", "netrc", "numbers", "operator", "optparse",
    "os", "pathlib", "pdb", "pickle", "pkgutil", "platform", "plistlib", "poplib", "pprint", "pydoc", "queue",
    "quopri", "random", "re", "sched", "secrets", "selectors", "shelve", "shlex", "shutil", "smtplib", "socket",
    "socketserver", "ssl", "statistics", "string", "subprocess", "tarfile", "tempfile", "textwrap", "threading",
    "timeit", "tokenize", "trace", "traceback", "turtle", "typing", "unittest.case", "unittest.mock", "urllib.parse",
    "urllib.request", "uuid", "warnings", "wave", "weakref", "webbrowser", "zipfile", "zipimport",
)  # fmt: skip


def _docstrings(tree: ast.Module, module: str) -> Iterator[tuple[str, str]]:
    """``(qualified name, docstring)`` of the module and of its classes and functions, in source order."""
    doc = ast.get_docstring(tree)
    if doc:
        yield module, doc

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, str]]:
        for child in getattr(node, "body", []):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}.{child.name}"
                doc = ast.get_docstring(child)
                if doc:
                    yield name, doc
                if isinstance(child, ast.ClassDef):
                    yield from walk(child, name)

    yield from walk(tree, module)


def stdlib_docs() -> Iterator[dict[str, str]]:
    """Rows ``{"id", "text"}`` of the ``stdlib-docs`` corpus (modules missing from this Python are skipped)."""
    for module in STDLIB_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        with open(spec.origin, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        seen: set[str] = set()
        for name, doc in _docstrings(tree, module):
            if len(doc) >= MIN_CHARS and name not in seen:
                seen.add(name)
                yield {"id": f"stdlib-docs/{name}", "text": doc}


BUILTIN_CORPORA: dict[str, Callable[[], Iterator[dict[str, str]]]] = {"stdlib-docs": stdlib_docs}


def builtin_revision() -> str:
    return f"python-{platform.python_version()}"


def load_builtin(name: str):
    """A ``datasets.Dataset`` of the built-in corpus ``name`` (``"stdlib-docs"`` or ``"builtin:stdlib-docs"``)."""
    from spp.errors import SppConfigError

    key = name.removeprefix(BUILTIN_PREFIX)
    if key not in BUILTIN_CORPORA:
        raise SppConfigError(
            f"unknown built-in corpus {name!r}",
            field="dataset",
            fix=f"choose one of {[BUILTIN_PREFIX + k for k in BUILTIN_CORPORA]}",
        )
    return _builtin_dataset(key)


@functools.cache
def _builtin_dataset(key: str):
    """Built once per process (parsing the sources takes about a second); datasets are immutable, so sharing is safe."""
    from datasets import Dataset

    rows = list(BUILTIN_CORPORA[key]())
    return Dataset.from_dict({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows]})
