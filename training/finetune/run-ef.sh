#!/usr/bin/env bash
# Runs E and F of the MobileNetV2 fine-tuning (sequentially): run A's recipe trained twice as long
# (16 epochs) after one linear-probe epoch (head only, backbone frozen), which is known to distort
# pretrained features less than unfreezing at once. E uses all sources; F holds ISIC 2017 out and
# is scored once on it at the end. Re-running resumes each run exactly from its checkpoint.
#   nohup training/finetune/run-ef.sh [PID-to-wait-for] >/dev/null 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
RUNS="${DERMAFUSE_FINETUNE_CACHE:-${DERMAFUSE_CACHE:-$HOME/.cache/dermafuse}/finetune}/runs"
if [ -n "${1:-}" ]; then while kill -0 "$1" 2>/dev/null; do sleep 20; done; fi
COMMON=(--backbone mobilenet_v2 --epochs 16 --probe-epochs 1 --batch 32 --draws ham10000=1500,isic2017=1500,isic9=400 --final-tta --export)
mkdir -p "$RUNS/runE" "$RUNS/runF"
$PY -m training.finetune.train --name runE "${COMMON[@]}" >>"$RUNS/runE/log.txt" 2>&1
$PY -m training.finetune.train --name runF --holdout isic2017 --final-eval loso:isic2017 "${COMMON[@]}" >>"$RUNS/runF/log.txt" 2>&1
