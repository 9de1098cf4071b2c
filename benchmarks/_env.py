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


# Dense bf16 peak TFLOP/s by card name (vendor datasheets, without sparsity), most specific first. The H200 has the
# H100 SXM's compute (more and faster memory only), so its MFU is against the same 989.
PEAK_BF16_TFLOPS = (("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0), ("H200", 989.0), ("A100", 312.0))


def peak_bf16_tflops(card: str, default: float = 989.0) -> tuple[float, str]:
    """The dense bf16 peak of ``card`` and where the number comes from (``default`` for a card not in the table)."""
    for name, tflops in PEAK_BF16_TFLOPS:
        if name.lower() in card.lower():
            return tflops, f"{name} dense bf16 peak (datasheet, no sparsity)"
    return default, f"{card}: not in benchmarks/_env.py's table; MFU against {default} (H100 SXM), set --peak-tflops"
