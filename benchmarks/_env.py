"""Hardware and version lines that every spp benchmark prints with its figures."""

from __future__ import annotations

import importlib.metadata
import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions(*packages: str) -> str:
    found = []
    for name in packages:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def describe(*packages: str) -> str:
    """Two lines: the machine and the versions of Python and ``packages``."""
    gpu = ""
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f", GPU {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return (
        f"hardware: {cpu_model()}, {os.cpu_count()} logical cores{gpu}, {platform.system()} {platform.machine()}\n"
        f"versions: Python {platform.python_version()}, {versions('spp', *packages)}"
    )
