#!/usr/bin/env bash
# Train and evaluate the classifier counselor on the GPU machine (see docs/counselor.md).
# Run from the repository root with gpu_carry/ carried (MiniLM fp16 + the 3 ESConv splits):
#   bash benchmarks/counselor_gpu.sh            # results under $OUT (results_gpu.json, log)
# Needs only torch + transformers + numpy there (no trl, no datasets, no sweetiechat deps).
set -euo pipefail
OUT="${OUT:-runs/gpu-counselor}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
PY="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
"$PY" benchmarks/counselor_gpu.py --data gpu_carry/esconv --base gpu_carry/minilm --out "$OUT" \
  "$@" 2>&1 | tee "$OUT/log.txt"
