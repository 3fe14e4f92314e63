#!/usr/bin/env bash
# Two measurements against run C (InceptionV3, run-cd.sh), same data, draws, schedule and frozen layers:
#   G: the fusion fine-tuned end to end (InceptionV3 + MobileNetV2 under one head, both trained together);
#   H: InceptionV3 at 224 px instead of 299 (a measurement only: not exported, the app's graph takes 299).
# Re-running resumes each run exactly from its checkpoint. Logs: <cache>/runs/<name>/log.txt.
#   nohup training/finetune/run-gh.sh [PID-to-wait-for] >/dev/null 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
RUNS="${DERMAFUSE_FINETUNE_CACHE:-${DERMAFUSE_CACHE:-$HOME/.cache/dermafuse}/finetune}/runs"
if [ -n "${1:-}" ]; then while kill -0 "$1" 2>/dev/null; do sleep 20; done; fi
COMMON=(--freeze-until mixed2 --epochs 5 --batch 16 --draws ham10000=1500,isic2017=1500,isic9=400 --final-tta)
mkdir -p "$RUNS/runG-fusion" "$RUNS/runH-inception224"
$PY -m training.finetune.train --name runG-fusion --backbone fusion --head-outputs mixed5,mixed6,mixed7,features --export "${COMMON[@]}" >>"$RUNS/runG-fusion/log.txt" 2>&1
$PY -m training.finetune.train --name runH-inception224 --backbone inception_v3 --size 224 --head-outputs mixed5,mixed6,mixed7 "${COMMON[@]}" >>"$RUNS/runH-inception224/log.txt" 2>&1
