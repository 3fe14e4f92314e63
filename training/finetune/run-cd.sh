#!/usr/bin/env bash
# Runs C and D of the InceptionV3 fine-tuning (sequentially): C on all sources, D with ISIC 2017
# held out (scored once on it at the end). Layers up to mixed2 stay frozen (the measured speed
# trade-off: about 9 images/s at 299 px on two cores); the head pools mixed5..7 as the app's does.
# Re-running resumes each run exactly from its checkpoint. Logs: <cache>/runs/<name>/log.txt.
#   nohup training/finetune/run-cd.sh [PID-to-wait-for] >/dev/null 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
RUNS="${DERMAFUSE_FINETUNE_CACHE:-${DERMAFUSE_CACHE:-$HOME/.cache/dermafuse}/finetune}/runs"
if [ -n "${1:-}" ]; then while kill -0 "$1" 2>/dev/null; do sleep 20; done; fi
COMMON=(--backbone inception_v3 --head-outputs mixed5,mixed6,mixed7 --freeze-until mixed2 --epochs 5 --batch 16
  --draws ham10000=1500,isic2017=1500,isic9=400 --final-tta --export)
mkdir -p "$RUNS/runC-inception" "$RUNS/runD-inception"
$PY -m training.finetune.train --name runC-inception "${COMMON[@]}" >>"$RUNS/runC-inception/log.txt" 2>&1
$PY -m training.finetune.train --name runD-inception --holdout isic2017 --final-eval loso:isic2017 "${COMMON[@]}" >>"$RUNS/runD-inception/log.txt" 2>&1
