#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtual environment in .venv with spp, its extras for tests, and torch.
# Idempotent: re-running only installs what is missing. Set PYTHON to choose the interpreter (default python3).
#
# Versions: every package is installed at the version the test suite last passed with (.ci/constraints.txt), so a
# new release of a dependency cannot break a fresh set-up or CI overnight. SPP_CONSTRAINTS= (empty) installs the
# newest releases instead; scripts/check_latest.sh runs the suite on those and prints what broke.
set -euo pipefail
cd "$(dirname "$0")/.."
python_bin=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python_bin" -m venv .venv
constraints=${SPP_CONSTRAINTS-.ci/constraints.txt}
pins=()
if [ -n "$constraints" ]; then
  # The pins were written on one Python (their header says which); on another minor version some may not exist.
  written_for=$(sed -n 's/^# Written .* from Python \([0-9]*\.[0-9]*\).*/\1/p' "$constraints")
  running=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if [ -n "$written_for" ] && [ "$written_for" != "$running" ]; then
    echo "setup: $constraints was written for Python $written_for, this is $running: installing the newest releases" >&2
  else
    pins=(-c "$constraints")
  fi
fi
.venv/bin/python -m pip install --quiet --upgrade pip "${pins[@]}"
# torch first, pinned: spp accepts any torch>=2.4, and an unpinned install can pull a multi-GB build that the
# machine already has on disk in another version. Bring your own CUDA build on GPU clusters before this script.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install --quiet "torch==${SPP_TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install --quiet -e ".[dev]" "${pins[@]}"
