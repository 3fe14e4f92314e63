#!/usr/bin/env bash
# Runs A and B of the MobileNetV2 fine-tuning (sequentially), each exported to ONNX (fp32 +
# fp16-weights copy, parity-checked). Re-running resumes each run exactly from its checkpoint
# (a finished run is only re-exported). Logs: <cache>/runs/<name>/log.txt.
#   nohup training/finetune/run-ab.sh [PID-to-wait-for] >/dev/null 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
RUNS="${DERMAFUSE_FINETUNE_CACHE:-${DERMAFUSE_CACHE:-$HOME/.cache/dermafuse}/finetune}/runs"
if [ -n "${1:-}" ]; then while kill -0 "$1" 2>/dev/null; do sleep 20; done; fi
COMMON=(--backbone mobilenet_v2 --epochs 8 --batch 32 --draws ham10000=1500,isic2017=1500,isic9=400 --final-tta --export --export-fp16)
mkdir -p "$RUNS/runA" "$RUNS/runB"
$PY -m training.finetune.train --name runA "${COMMON[@]}" >>"$RUNS/runA/log.txt" 2>&1
$PY -m training.finetune.train --name runB --holdout isic2017 --final-eval loso:isic2017 "${COMMON[@]}" >>"$RUNS/runB/log.txt" 2>&1
