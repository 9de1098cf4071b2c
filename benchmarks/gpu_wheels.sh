#!/usr/bin/env bash
# Download the wheels that the lent GPU machine's image lacks (it has torch, transformers, accelerate, triton,
# huggingface_hub, pyarrow, ...) into .whl/ (git-ignored), for benchmarks/gpu_check.sh there.
#   here:   bash benchmarks/gpu_wheels.sh
#   there:  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
#             --target /tmp/site-packages .whl/*.whl && export PYTHONPATH=/tmp/site-packages:src \
#             && PYTHON=python3 bash benchmarks/gpu_check.sh
# The target folder's name must contain "site-packages": dill (which datasets fingerprints with) pickles modules
# outside a sys prefix or site-packages by value, and then fails on pyarrow ("Can't pickle <class 'MonthDayNano'>",
# seen on the H100 with --target /tmp/site).
# (the device tool's `carry` must name .whl; ~56 MB, pyarrow included since datasets needs pyarrow>=24).
# Versions: the ones spp is tested with here.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl \
  trl==1.16.0 datasets==5.2.0 liger-kernel==0.8.5 "dill>=0.3,<0.4.2" "multiprocess<0.70.20" pyarrow==26.0.1
ls -1 .whl
