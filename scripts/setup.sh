#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtual environment in .venv with spp, its extras for tests, and torch.
# Idempotent: re-running only installs what is missing. Set PYTHON to choose the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
python_bin=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python_bin" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned: spp accepts any torch>=2.4, and an unpinned install can pull a multi-GB build that the
# machine already has on disk in another version. Bring your own CUDA build on GPU clusters before this script.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install --quiet "torch==${SPP_TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install --quiet -e ".[dev]"
