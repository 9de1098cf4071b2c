#!/usr/bin/env bash
# Write .ci/constraints.txt from a virtual environment the test suite has just passed in (default .venv):
#     bash scripts/write_constraints.sh [VENV]
# scripts/check_latest.sh --update calls it after a green run on the newest releases. torch is left out (setup.sh
# installs it pinned on its own, and GPU clusters bring their own CUDA build), and so is spp itself.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
{
  echo "# The versions the test suite last passed with; scripts/setup.sh (and so .ci/run) installs these."
  echo "# Refresh: bash scripts/check_latest.sh --update  (the suite on the newest releases; written only if it passes)."
  echo "# Written $(date -u +%Y-%m-%d) from $("$venv/bin/python" -c 'import platform; print("Python", platform.python_version(), platform.machine())')."
  "$venv/bin/python" -m pip freeze --all --exclude-editable | grep -viE '^(torch|spp)([=<>@ ]|$)' | LC_ALL=C sort -f
} > .ci/constraints.txt.new
mv .ci/constraints.txt.new .ci/constraints.txt
echo "wrote .ci/constraints.txt ($(grep -vc '^#' .ci/constraints.txt) pins) from $venv"
