#!/usr/bin/env bash
# Every GPU check of spp in one call, within 9 minutes (540 s) on one H100 or H200. Each part has its own limit and
# the elapsed time is printed before each; a part that runs out of time is stopped and the next one starts.
#   0. card, driver, versions                                               (gpu.txt)                 ~5 s
#   1. tests/gpu (pretraining and SFT): Liger through SPPTrainer, fp8 on compiled layers, spp_varlen vs per-sequence
#      attention, SFT with the kernels vs TRL's path                       (in gpu_check.log)        limit 80 s
#   2. benchmarks/pretrain_throughput.py --budget-s 290: the 1.7B recipe as it runs (document layout, 1024-window
#      global batch), micro-batch 8 bf16 then fp8, the 200-step fp8 loss A/B, micro-batch 12/16/24 and activation
#      checkpointing on as far as the budget goes
#                                                                           (pretrain_throughput.json) limit 320 s
#   3. benchmarks/sft_throughput.py --kernels: SFT with Liger FLCE, compiled layers, spp_varlen (sft_kernels.json)
#                                                                                                     limit 110 s
#   4. benchmarks/sft_throughput.py: SFT through TRL's own path, the 2026-11-27 baseline, when >= 80 s are left
#                                                                           (sft_baseline.json)
#   5. benchmarks/record_throughput.py: the figures into throughput.json and a README.md of the run (never by hand)
#   (ATTACK=1: tests/gpu/test_attack_cuda.py and benchmarks/attack_throughput.py, PEZ on the 1.7B spec, after the
#   rest; outside the 9 minutes)
# Results go to RESULTS (default: benchmarks/measured/<date>-<card>/, or $OUT/<date>-<card>/ when the device tool's
# OUT is set: only $OUT comes back from the lent machine, so throughput.json is then written there beside the rest,
# to be copied over benchmarks/throughput.json). At most 8 files, as the device tool brings back.
# On the lent GPU machine (torch/transformers/accelerate only): run `bash benchmarks/gpu_wheels.sh` here first; its
# header has the exact install line for there (wheels into /tmp/site-packages, PYTHONPATH=src:/tmp/site-packages).
# SMOKE=1 runs the same flow on the CPU in a few minutes (tiny models; for checking this script, not for figures:
# its throughput.json copy stays in RESULTS).
# Usage: bash benchmarks/gpu_check.sh   (PYTHON=... picks the interpreter, SFT_ARGS=... extra sft_throughput.py
#        arguments, PRETRAIN_ARGS=... extra pretrain_throughput.py arguments, SPP_COMMIT=... the commit to record)
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
SMOKE=${SMOKE:-0}
export PYTHONUNBUFFERED=1
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }
left() { echo $(( 540 - $(elapsed) )); }

if [ "$SMOKE" = 1 ]; then
  card=cpu-smoke
else
  card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
  [ -n "$card" ] || { echo "gpu_check: no NVIDIA GPU found (SMOKE=1 runs the flow on the CPU)"; exit 1; }
fi
slug=$(echo "$card" | tr '[:upper:]' '[:lower:]' | grep -oE '\b[a-z]{1,2}[0-9]{2,4}\b' | head -1)
slug=${slug:-$(echo "$card" | tr '[:upper:]' '[:lower:]' | tr -cs 'a-z0-9' '-' | sed 's/-$//')}
stamp="$(date -u +%F)-$slug"
if [ -n "${RESULTS:-}" ]; then :; elif [ -n "${OUT:-}" ]; then RESULTS="$OUT/$stamp"; else RESULTS="benchmarks/measured/$stamp"; fi
if [ "$SMOKE" = 1 ] || [ -n "${OUT:-}" ]; then THROUGHPUT="$RESULTS/throughput.json"; else THROUGHPUT=benchmarks/throughput.json; fi
commit=${SPP_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
mkdir -p "$RESULTS"
LOG="$RESULTS/gpu_check.log"
: > "$LOG"
status=0
say() { echo "[$(date +%T) +$(elapsed)s] $*" | tee -a "$LOG"; }

say "gpu_check: $card, commit $commit, results in $RESULTS"
{
  if [ "$SMOKE" = 1 ]; then echo "SMOKE=1: CPU, tiny models"; else
    nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv; fi
  "$PYTHON" -c "import torch; from importlib.metadata import version as v
def ver(p):
    try: return v(p)
    except Exception: return 'not installed'
print('torch', torch.__version__, 'cuda', torch.version.cuda, *(f'{p} {ver(p)}' for p in ('transformers', 'trl', \
'datasets', 'accelerate', 'liger-kernel', 'torchao', 'triton', 'pyarrow', 'huggingface_hub', 'spp')))"
} 2>&1 | tee "$RESULTS/gpu.txt" | tee -a "$LOG"

# run LIMIT NAME COMMAND...: one part under `timeout`, its output into the log; a failure or timeout marks the run
run() {
  local limit=$1 name=$2; shift 2
  say "$name (limit ${limit} s, $(left) s of 540 left)"
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 124 ] && say "$name: stopped at its ${limit} s limit"
  [ "$rc" -eq 0 ] || { status=1; say "$name: exit $rc"; }
  say "$name: done"
}

if [ "$SMOKE" = 1 ]; then
  run 240 pretrain_throughput "$PYTHON" benchmarks/pretrain_throughput.py --device cpu --smoke \
    --out "$RESULTS/pretrain_throughput.json" ${PRETRAIN_ARGS:-}
  run 120 sft_kernels "$PYTHON" benchmarks/sft_throughput.py --model tiny --steps 4 --warmup 1 --kernels \
    --out "$RESULTS/sft_kernels.json" ${SFT_ARGS:-}
  run 120 sft_baseline "$PYTHON" benchmarks/sft_throughput.py --model tiny --steps 4 --warmup 1 \
    --out "$RESULTS/sft_baseline.json" ${SFT_ARGS:-}
else
  run 80 tests/gpu "$PYTHON" -m pytest tests/gpu/test_pretrain_cuda.py tests/gpu/test_sft_cuda.py -q -rs \
    -p no:cacheprovider
  # the benchmark stops starting phases at --budget-s; the limit leaves it time to finish the one under way
  run 320 pretrain_throughput "$PYTHON" benchmarks/pretrain_throughput.py --budget-s 290 \
    --out "$RESULTS/pretrain_throughput.json" ${PRETRAIN_ARGS:-}
  run 110 sft_kernels "$PYTHON" benchmarks/sft_throughput.py --kernels --steps 16 --warmup 4 --conversations 1500 \
    --out "$RESULTS/sft_kernels.json" ${SFT_ARGS:-}
  if [ "$(left)" -ge 80 ]; then
    run $(( $(left) - 5 )) sft_baseline "$PYTHON" benchmarks/sft_throughput.py --micro-batch 4 \
      --no-gradient-checkpointing --steps 16 --warmup 4 --conversations 1500 --out "$RESULTS/sft_baseline.json" ${SFT_ARGS:-}
  else
    say "sft_baseline: skipped, $(left) s left (the 2026-11-27 figures stand: benchmarks/throughput.json, sft)"
  fi
fi

run 30 record_throughput "$PYTHON" benchmarks/record_throughput.py --results "$RESULTS" --write "$THROUGHPUT" \
  --name "$stamp" --date "$(date -u +%F)" --commit "$commit"

if [ "${ATTACK:-0}" = 1 ] && [ "$SMOKE" != 1 ]; then
  run 120 tests/gpu/test_attack_cuda.py "$PYTHON" -m pytest tests/gpu/test_attack_cuda.py -q -rs -p no:cacheprovider
  run 180 attack_throughput "$PYTHON" benchmarks/attack_throughput.py --model smollm2-1.7b --device cuda \
    --behaviors 4 --behaviors-per-batch 4 --out "$RESULTS/attack_throughput.json"
fi

say "gpu_check: $([ $status -eq 0 ] && echo PASSED || echo FAILED) in $(elapsed) s; results in $RESULTS"
exit $status
