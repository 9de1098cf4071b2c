"""Print installed distributions as ``name==version``, with ``(pinned X)`` where ``.ci/constraints.txt`` pins
another version. Run with the Python of the venv to report on (``scripts/check_latest.sh``,
``scripts/check_minimum.sh``):

    python scripts/versions_vs_pins.py --names torch transformers --moved   # those, and every one that moved
    python scripts/versions_vs_pins.py --direct --names tokenizers          # spp's requirements, and those

``--names``: always listed; ``--direct``: spp's own requirements too; ``--moved``: every distribution whose
version differs from its pin too.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[norm(name)] = version.strip()
    return pins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", nargs="*", default=[])
    parser.add_argument("--direct", action="store_true")
    parser.add_argument("--moved", action="store_true")
    parser.add_argument("--pins", default=".ci/constraints.txt")
    args = parser.parse_args()
    pins = read_pins(Path(args.pins))
    shown = {norm(name) for name in args.names}
    if args.direct:
        shown |= {norm(Requirement(r).name) for r in md.requires("spp") or []}
    for dist in sorted(md.distributions(), key=lambda d: d.metadata["Name"].lower()):
        name = norm(dist.metadata["Name"])
        pinned = pins.get(name)
        moved = pinned is not None and Version(pinned) != Version(dist.version)
        if name in shown or (args.moved and moved):
            print(f"  {name}=={dist.version}" + (f"  (pinned {pinned})" if moved else ""))


if __name__ == "__main__":
    main()
