#!/usr/bin/env bash
# Tests of the fine-tuning step (training/finetune). Called from .ci/run.
# Skips (exit 0) with a message when torch/onnx are not importable or the shared data is absent.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
PY="${FINETUNE_PYTHON:-/usr/bin/python3}"
SHARED="${DERMAFUSE_SHARED:-$ROOT/../shared}"
if ! "$PY" -c 'import torch, onnx, numpy, PIL' 2>/dev/null; then
  echo "finetune tests: SKIPPED (torch/onnx/numpy/PIL not importable by $PY; apt-get install python3-torch python3-onnx python3-pil)"
  exit 0
fi
if [ ! -d "$SHARED/data/fixtures" ]; then
  echo "finetune tests: SKIPPED ($SHARED/data is absent)"
  exit 0
fi
if [ ! -d node_modules/onnxruntime-node ]; then
  echo "finetune tests: SKIPPED (node_modules/onnxruntime-node missing; run npm ci)"
  exit 0
fi
exec "$PY" -m training.finetune.tests.run
