"""Score a checkpoint (mid-run or final) on protocol evalSets, e.g. a held-out source.

  /usr/bin/python3 -m training.finetune.evaluate --checkpoint RUN/checkpoint.pt --sets loso:isic2017 [--tta] [--out scores.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .data import LABELS, ImageCache, read_protocol
from .model import Classifier, input_size
from .train import evaluate, fmt_eval


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--sets", required=True, help="comma-separated evalSets (val:ham10000, loso:isic2017, ...)")
    ap.add_argument("--protocol", help="default: protocol.csv beside the checkpoint")
    ap.add_argument("--tta", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="write the result with per-image scores here (input of compare.py)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    ck = torch.load(args.checkpoint, map_location="cpu")
    cfg = ck["config"]
    items = read_protocol(args.protocol or Path(args.checkpoint).parent / "protocol.csv")
    sets = args.sets.split(",")
    chosen = [it for it in items if it.evalSet in sets and it.label in LABELS]
    model = Classifier(cfg["onnx"], cfg["backbone"], cfg["head_outputs"].split(",") if cfg.get("head_outputs") else None, cfg["dropout"], cfg.get("size"))
    model.load_state_dict(ck["model"])
    cache = ImageCache(chosen, input_size(cfg["backbone"], cfg.get("size")))
    ev = evaluate(model, cache, chosen, torch.device("cpu"), args.tta, per_image=bool(args.out))
    ev["checkpoint_state"] = {k: ck["state"][k] for k in ("epoch", "step", "global_step")}
    print(f"{args.sets} (epoch {ck['state']['epoch']} done, step {ck['state']['step']}) {fmt_eval(ev)}")
    if args.out:
        Path(args.out).write_text(json.dumps({"checkpoint": args.checkpoint, **ev}))
    print(json.dumps({k: v for k, v in ev.items() if k != "images"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
