#!/usr/bin/env bash
# The test suite against the NEWEST release of every dependency (not the pins of .ci/constraints.txt that
# scripts/setup.sh and CI use), in its own venv (.venv-latest). Non-blocking: it prints the versions it tried, which
# of them differ from the pins, and the tests that broke; main's CI is unaffected.
#
#     bash scripts/check_latest.sh              # report only
#     bash scripts/check_latest.sh --update     # and, if the suite passes, write those versions to the pins
#     bash scripts/check_latest.sh -- -k serve  # extra pytest arguments after --
#
# Exit code: pytest's (0: the newest releases pass).
set -uo pipefail
cd "$(dirname "$0")/.."
update=0
if [ "${1:-}" = "--update" ]; then update=1; shift; fi
[ "${1:-}" = "--" ] && shift
venv=${SPP_LATEST_VENV:-.venv-latest}
python_bin=${PYTHON:-python3}
[ -x "$venv/bin/python" ] || "$python_bin" -m venv "$venv" || exit 2
log="$venv/pip.log"
# torch stays at setup.sh's version: its newest release is a multi-GB CUDA build (SPP_TORCH_VERSION picks another).
torch_pin=$(mktemp)
echo "torch==${SPP_TORCH_VERSION:-2.13.0}" > "$torch_pin"
{
  "$venv/bin/python" -m pip install --quiet --upgrade pip \
    && "$venv/bin/python" -m pip install --quiet -c "$torch_pin" torch \
    && "$venv/bin/python" -m pip install --quiet --upgrade --upgrade-strategy eager -c "$torch_pin" -e ".[dev]"
} > "$log" 2>&1 || { tail -20 "$log"; echo "check_latest: installing the newest releases failed (see $log)"; exit 2; }
rm -f "$torch_pin"

echo "== versions tried (newest releases) =="
"$venv/bin/python" scripts/versions_vs_pins.py --moved --names torch transformers trl datasets accelerate \
  huggingface-hub datatrove evaluate tokenizers safetensors numpy pyarrow aiohttp pytest
echo "== test suite on them =="
"$venv/bin/python" -m pytest -q -p no:cacheprovider -rf "$@" | tee "$venv/pytest.log"
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 0 ]; then
  echo "check_latest: the newest releases pass"
  [ "$update" -eq 1 ] && bash scripts/write_constraints.sh "$venv"
else
  echo "check_latest: the newest releases break the tests listed above (FAILED lines); pins unchanged"
fi
exit "$rc"
