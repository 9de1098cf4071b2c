#!/usr/bin/env bash
# The test suite against the LOWEST version of every direct dependency that pyproject.toml allows (uv's
# `--resolution lowest-direct`: each of spp's own requirements at its lower bound, or the lowest version the other
# requirements leave possible), in its own venv (.venv-minimum). It checks that the lower bounds in pyproject.toml
# are true. Not part of .ci/run (it downloads old releases); run it after changing a bound or a dependency's use.
#
#     bash scripts/check_minimum.sh                       # the default subset: every test not marked slow
#     bash scripts/check_minimum.sh -- tests/pretrain -x  # other pytest arguments after --
#
# torch stays at setup.sh's version (SPP_TORCH_VERSION, default 2.13.0; its lowest allowed release would be a
# multi-GB download). Prints the versions installed, which of them sit below .ci/constraints.txt's pins, and the
# tests that failed. Exit code: pytest's (0: the lower bounds pass), 2 when the install itself failed.
set -uo pipefail
cd "$(dirname "$0")/.."
[ "${1:-}" = "--" ] && shift
venv=${SPP_MINIMUM_VENV:-.venv-minimum}
python_bin=${PYTHON:-python3}
torch_version=${SPP_TORCH_VERSION:-2.13.0}
[ -x "$venv/bin/python" ] || "$python_bin" -m venv "$venv" || exit 2
log="$venv/install.log"
# uv does not read pip's configuration: hand it pip's find-links (where a machine keeps wheels such as its torch).
# --reinstall: what pip installed with torch (its newest dependencies) must not steer the resolution upwards.
find_links=()
for dir in ${PIP_FIND_LINKS:-} $("$venv/bin/python" -m pip config get global.find-links 2>/dev/null); do
  [ -d "$dir" ] && find_links+=(--find-links "$dir")
done
pins=$(mktemp)
{
  "$venv/bin/python" -m pip install --quiet --upgrade pip uv \
    && { "$venv/bin/python" -c "import torch" 2>/dev/null \
         || "$venv/bin/python" -m pip install --quiet "torch==$torch_version"; } \
    && "$venv/bin/python" -c "import torch; print('torch==' + torch.__version__)" > "$pins" \
    && "$venv/bin/uv" pip install --python "$venv/bin/python" --resolution lowest-direct --reinstall \
         "${find_links[@]}" -c "$pins" -e ".[dev,evaluate]"
} > "$log" 2>&1 || { tail -30 "$log"; rm -f "$pins"; echo "check_minimum: installing the minimum versions failed (see $log)"; exit 2; }
rm -f "$pins"

echo "== versions installed (lowest the requirements allow) =="
"$venv/bin/python" scripts/versions_vs_pins.py --direct --names tokenizers safetensors pandas
echo "== test suite on them =="
if [ $# -eq 0 ]; then set -- -m "not slow"; fi
"$venv/bin/python" -m pytest -q -p no:cacheprovider -rf "$@" | tee "$venv/pytest.log"
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 0 ]; then
  echo "check_minimum: the lower bounds in pyproject.toml pass"
else
  echo "check_minimum: the minimum versions break the tests listed above (FAILED lines): raise those bounds"
fi
exit "$rc"
