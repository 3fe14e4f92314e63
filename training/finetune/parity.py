"""Parity of the PyTorch rebuild with onnxruntime-node on real fixture images.

  /usr/bin/python3 -m training.finetune.parity --backbone mobilenet_v2 [--n 32] [--onnx PATH]
Pass: max |torch - ort| <= tol, either absolute or relative to the output's scale (max |ort|);
both are printed."""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from .data import fixture_items, load_square
from .model import BACKBONES, resolve_onnx
from .onnx_torch import OnnxModule
from .ort import compare, ort_run


def fixture_batch(n: int, size: int) -> np.ndarray:
    items = fixture_items()
    ben = [i for i in items if i.label == "benign"][: (n + 1) // 2]
    mal = [i for i in items if i.label == "malignant"][: n // 2]
    return np.stack([load_square(i.file, size) for i in ben + mal]).astype(np.float32)


def passes(figs: dict, tol: float) -> bool:
    return all(min(v["max_abs"], v["max_rel_to_scale"]) <= tol for v in figs.values())


def torch_outputs(module: torch.nn.Module, x: np.ndarray, batch: int = 16) -> dict:
    outs: dict = {}
    with torch.no_grad():
        for i in range(0, len(x), batch):
            y = module(torch.from_numpy(x[i : i + batch]))
            for k, v in y.items():
                outs.setdefault(k, []).append(v.numpy())
    return {k: np.concatenate(v) for k, v in outs.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backbone", choices=sorted(BACKBONES), default="mobilenet_v2")
    ap.add_argument("--onnx", help="graph to check (default: the app's converted graph)")
    ap.add_argument("--n", type=int, default=32, help="fixture images (half benign, half melanoma)")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    path = resolve_onnx(args.backbone, args.onnx)
    x = fixture_batch(args.n, BACKBONES[args.backbone]["size"])
    m = OnnxModule(path).eval()
    t0 = time.time()
    got = torch_outputs(m, x)
    t1 = time.time()
    ref = ort_run(path, x)
    figs = compare(ref, got)
    ok = passes(figs, args.tol)
    report = {"onnx": path, "n": args.n, "torch_s": round(t1 - t0, 2), "outputs": figs, "tol": args.tol, "pass": ok}
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
