"""onnxruntime (Node) from Python: raw float32 files in, raw float32 files out, via ort-run.mjs."""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Dict

import numpy as np

from .data import REPO

SCRIPT = Path(__file__).resolve().parent / "ort-run.mjs"


def ort_run(model_path: str, x: np.ndarray) -> Dict[str, np.ndarray]:
    x = np.ascontiguousarray(x, dtype="<f4")
    with tempfile.TemporaryDirectory(prefix="ortrun-") as d:
        inp = Path(d) / "input.bin"
        x.tofile(inp)
        out = Path(d) / "out"
        subprocess.run(["node", str(SCRIPT), str(model_path), str(inp), ",".join(map(str, x.shape)), str(out)], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        listing = json.loads((out / "outputs.json").read_text())
        return {o["name"]: np.fromfile(out / o["file"], dtype="<f4").reshape(o["dims"]) for o in listing["outputs"]}


def compare(ref: Dict[str, np.ndarray], got: Dict[str, np.ndarray]) -> Dict[str, dict]:
    """Per output: max abs diff, output scale (max |ref|), and the diff relative to that scale."""
    out = {}
    for k, r in ref.items():
        g = got[k]
        assert r.shape == g.shape, (k, r.shape, g.shape)
        d = float(np.max(np.abs(r.astype(np.float64) - g.astype(np.float64))))
        scale = float(np.max(np.abs(r)))
        mean = float(np.mean(np.abs(r.astype(np.float64) - g.astype(np.float64))))
        out[k] = {"max_abs": d, "mean_abs": mean, "scale": scale, "max_rel_to_scale": d / scale if scale else d}
    return out
