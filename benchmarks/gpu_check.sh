#!/usr/bin/env bash
# Every GPU check of spp in one go, ~4 minutes on one H100 (time limits below: 90 + 270 + 150 s; each part as timed
# there on 2026-11-27: tests/gpu 48 s, pretraining 64 s, SFT 115 s, model builds and data preparation included):
#   1. tests/gpu (Liger kernels active through SPPTrainer, a tiny model trains on CUDA)
#   2. benchmarks/pretrain_throughput.py: 1.7B spec, seq 2048, bf16, real packed spp batches,
#      plain Trainer vs SPPTrainer (tokens/s/GPU, MFU, peak memory, card, versions) + the 30-step Liger A/B.
#   3. benchmarks/sft_throughput.py: a short SFT of the 1.7B spec with TRL (tokens/s).
#   4. benchmarks/attack_throughput.py: spp attack (PEZ) on the 1.7B spec (behaviours/hour, tokens/s); CUDA only.
# On the lent GPU machine (torch/transformers/accelerate only): run `bash benchmarks/gpu_wheels.sh` here first; its
# header has the exact install line for there (wheels into /tmp/site-packages, PYTHONPATH=/tmp/site-packages:src).
# Results of the 2026-11-27 H100 run: benchmarks/measured/2026-11-27-h100/.
# Usage: bash benchmarks/gpu_check.sh   (PYTHON=... picks the interpreter, OUT=... the results folder, SFT_ARGS=... extra
#        arguments of sft_throughput.py, e.g. SFT_ARGS='--attn-implementation flex_attention', or
#        SFT_ARGS='--profile-steps 3' for the top GPU operators of the SFT step, which ran at ~10% MFU on the H100)
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
OUT=${OUT:-benchmarks/results}
mkdir -p "$OUT"
status=0

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt" || status=1
"$PYTHON" -c "import torch, transformers, trl, datasets, accelerate, liger_kernel, pyarrow; from importlib.metadata \
import version; print('torch', torch.__version__, 'cuda', torch.version.cuda, *(f'{p} {version(p)}' for p in \
('transformers', 'trl', 'datasets', 'accelerate', 'liger-kernel', 'triton', 'pyarrow', 'huggingface_hub')))" \
  | tee -a "$OUT/gpu.txt" || status=1

echo "[$(date +%T)] tests/gpu"
timeout 90 "$PYTHON" -m pytest tests/gpu -q -rs 2>&1 | tee "$OUT/gpu_tests.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "[$(date +%T)] pretrain_throughput (each phase is written to the JSON as it ends)"
timeout 270 "$PYTHON" benchmarks/pretrain_throughput.py --out "$OUT/pretrain_throughput.json" 2>&1 \
  | tee "$OUT/pretrain_throughput.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "[$(date +%T)] sft_throughput"
timeout 150 "$PYTHON" benchmarks/sft_throughput.py ${SFT_ARGS:-} --out "$OUT/sft_throughput.json" 2>&1 | tee "$OUT/sft_throughput.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

# 4. spp attack (PEZ, HarmBench defaults: 5 test cases x 100 steps) on the 1.7B spec, 4 behaviours in one batch:
#    behaviours/hour, tokens/s and the test-case steps/s figure for throughput.json's 'attack' section. Not yet run
#    on a GPU (added 2026-12-01); guarded: CUDA only, 180 s at most, SKIP_ATTACK=1 leaves it out.
if [ "${SKIP_ATTACK:-0}" != 1 ] && "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "[$(date +%T)] attack_throughput (PEZ, 1.7B spec)"
  timeout 180 "$PYTHON" benchmarks/attack_throughput.py --model smollm2-1.7b --device cuda --behaviors 4 \
    --behaviors-per-batch 4 --out "$OUT/attack_throughput.json" 2>&1 | tee "$OUT/attack_throughput.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
else
  echo "[$(date +%T)] attack_throughput: skipped (no CUDA, or SKIP_ATTACK=1)"
fi

echo "[$(date +%T)] gpu_check: $([ $status -eq 0 ] && echo PASSED || echo FAILED); results in $OUT"
exit $status
