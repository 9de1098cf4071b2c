#!/usr/bin/env bash
# Download the wheels that the lent GPU machine's image lacks (it has torch, transformers, accelerate, triton,
# huggingface_hub, pyarrow<24, ...) into .whl/ (git-ignored), for benchmarks/gpu_check.sh there, and build spp's own
# wheel from this checkout (so `importlib.metadata.version("spp")` and the `spp` command work there too).
#   here:   bash benchmarks/gpu_wheels.sh
#   there:  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
#             --target /tmp/site-packages .whl/*.whl && export PYTHONPATH=src:/tmp/site-packages \
#             && PYTHON=python3 bash benchmarks/gpu_check.sh
# (the device tool's `carry` must name .whl; ~60 MB, pyarrow ~45 MB of it: datasets needs pyarrow>=24; the working
# tree travels beside it within the 64 MiB limit.) PYTHONPATH puts src/ first, so the checkout's code is what runs
# even if the spp wheel is older.
# The target folder's name must contain "site-packages": dill (which datasets fingerprints with) pickles modules
# outside a sys prefix or site-packages by value, and then fails on pyarrow ("Can't pickle <class 'MonthDayNano'>",
# seen on the H100 with --target /tmp/site).
# Versions: the ones spp is tested with here. torchao 0.18.0 (spp[fp8]): from 0.17 torchao is ABI-stable against
# torch >= 2.11 (its compatibility table ends at 0.16), so one wheel serves the image's torch 2.11 and torch 2.13 here.
set -euo pipefail
cd "$(dirname "$0")/.."
exclude=$(git rev-parse --git-path info/exclude 2>/dev/null || echo .git/info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qxF '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"
PYTHON=${PYTHON:-python3}
mkdir -p .whl
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl \
  trl==1.16.0 datasets==5.2.0 liger-kernel==0.8.5 torchao==0.18.0 "dill>=0.3,<0.4.2" "multiprocess<0.70.20" \
  pyarrow==26.0.1
rm -f .whl/spp-*.whl
"$PYTHON" -m pip wheel --quiet --no-deps --no-build-isolation -w .whl . 2>/dev/null \
  || "$PYTHON" -m pip wheel --quiet --no-deps -w .whl .
ls -1s .whl
du -sh .whl
