"""Export a fine-tuned backbone (each branch of a fusion run) to ONNX with the app's graph contract,
checked against PyTorch through onnxruntime-node.

  /usr/bin/python3 -m training.finetune.export --checkpoint RUN/checkpoint.pt [--out X.onnx] [--fp16] [--drop-logits]

Contract: input `image` float32 [batch,H,W,3] RGB 0..255 (normalisation and NHWC->NCHW inside),
outputs NHWC float32: MobileNetV2 `features` [batch,7,7,1280] and `logits` [batch,1001] (kept by
default: the ImageNet classifier is not trained here, so after fine-tuning `logits` are only a
smoke signal; --drop-logits removes them); InceptionV3 `mixed5`,`mixed6`,`mixed7` [batch,17,17,768].
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper, TensorProto

from .model import BACKBONES
from .onnx_torch import OnnxModule
from .ort import compare, ort_run


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Tuple(torch.nn.Module):
    def __init__(self, m: OnnxModule):
        super().__init__()
        self.m = m

    def forward(self, image):
        y = self.m(image)
        return tuple(y[k] for k in self.m.output_names)


def contract_module(src_onnx: str, backbone: str, trained: Dict[str, torch.Tensor], outputs: Optional[List[str]] = None) -> OnnxModule:
    """The app's graph rebuilt with every contract output, trained weights loaded by ONNX name."""
    m = OnnxModule(src_onnx, outputs=outputs or BACKBONES[backbone]["contract"])
    own = m.onnx_state()
    missing = [k for k in trained if k not in own]
    if missing:
        raise KeyError(f"trained tensors not in the contract graph: {missing[:3]}")
    with torch.no_grad():
        for k, v in trained.items():
            own[k].copy_(v.reshape(own[k].shape))
    return m.eval()


def export_onnx(module: OnnxModule, size: int, out: str | Path) -> str:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = list(module.output_names)
    tmp = out.with_suffix(".tmp.onnx")
    module.export_mode = True
    dummy = torch.zeros(2, size, size, 3)
    torch.onnx.export(
        _Tuple(module).eval(), (dummy,), str(tmp), input_names=["image"], output_names=names,
        dynamic_axes={"image": {0: "batch"}, **{n: {0: "batch"} for n in names}}, opset_version=13, do_constant_folding=True,
    )
    module.export_mode = False
    model = onnx.load(str(tmp))
    onnx.checker.check_model(model)
    tmp.replace(out)
    return str(out)


def fp16_weights(src: str | Path, out: str | Path, min_elems: int = 16) -> str:
    """A copy whose weight tensors (float initializers of rank >= 2; biases and constants stay
    float32) are stored as float16, each followed by a Cast to float32 (compute stays fp32; the
    file is about half the size)."""
    model = onnx.load(str(src))
    g = model.graph
    casts = []
    new_inits = []
    for t in g.initializer:
        arr = numpy_helper.to_array(t)
        if t.data_type == TensorProto.FLOAT and arr.size >= min_elems and arr.ndim >= 2:
            h = numpy_helper.from_array(arr.astype(np.float16), name=t.name + "__fp16")
            new_inits.append(h)
            casts.append(helper.make_node("Cast", [h.name], [t.name], to=TensorProto.FLOAT, name=t.name + "__cast"))
        else:
            new_inits.append(t)
    del g.initializer[:]
    g.initializer.extend(new_inits)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return str(out)


def parity(module: OnnxModule, onnx_path: str, x: np.ndarray) -> dict:
    with torch.no_grad():
        ref = {k: v.numpy() for k, v in module(torch.from_numpy(x)).items()}
    return compare(ref, ort_run(onnx_path, x))


def export_branch(src_onnx: str, backbone: str, trained: Dict[str, torch.Tensor], out: Path, fp16: bool, drop_logits: bool, n_images: int, tol: float) -> dict:
    from .parity import fixture_batch, passes

    outputs = [o for o in BACKBONES[backbone]["contract"] if not (drop_logits and o == "logits")]
    m = contract_module(src_onnx, backbone, trained, outputs)
    size = BACKBONES[backbone]["size"]
    export_onnx(m, size, out)
    x = fixture_batch(n_images, size)
    figs = parity(m, str(out), x)
    figs1 = parity(m, str(out), x[:1])  # dynamic batch: batch 1 as well
    rep = {"onnx": str(out), "sha256": sha256_file(out), "bytes": out.stat().st_size, "outputs": outputs,
           "parity_vs_torch": figs, "parity_vs_torch_batch1": figs1, "pass": passes(figs, tol) and passes(figs1, tol), "tol": tol}
    print(f"exported {out}  sha256 {rep['sha256']}  parity {'PASS' if rep['pass'] else 'FAIL'} " + ", ".join(f"{k}: max_abs {v['max_abs']:.2e} rel {v['max_rel_to_scale']:.2e}" for k, v in figs.items()), flush=True)
    if fp16:
        out16 = out.with_name(out.stem + ".fp16w.onnx")
        fp16_weights(out, out16)
        ref = ort_run(str(out), x)
        d = compare(ref, ort_run(str(out16), x))
        rep["fp16"] = {"onnx": str(out16), "sha256": sha256_file(out16), "bytes": out16.stat().st_size, "vs_fp32": d}
        print(f"fp16-weights copy {out16}  sha256 {rep['fp16']['sha256']}  {rep['fp16']['bytes']} B (fp32 {rep['bytes']} B) " + ", ".join(f"{k}: max_abs {v['max_abs']:.2e} rel {v['max_rel_to_scale']:.2e}" for k, v in d.items()), flush=True)
    out.with_suffix(".json").write_text(json.dumps(rep, indent=1))
    return rep


def export_run(ckpt_path: str | Path, out: Optional[str | Path] = None, fp16: bool = False, drop_logits: bool = False, n_images: int = 16, tol: float = 1e-4) -> dict:
    """Export a run's backbone (or, for a fusion run, each branch: `out` is then a folder). A
    single-branch report has the branch's fields at the top; a fusion report has them under
    `branches`, with `pass` true when every branch passes."""
    ck = torch.load(str(ckpt_path), map_location="cpu")
    cfg = ck["config"]
    backbone = cfg["backbone"]
    if cfg.get("size") and cfg["size"] != BACKBONES[backbone]["size"]:
        raise SystemExit(f"trained at {cfg['size']} px; the app's {backbone} graph takes {BACKBONES[backbone]['size']} px: a measurement run, not exported")
    # older checkpoints hold one branch's tensors under backbone_onnx_state
    states = ck.get("branch_onnx_states") or {backbone: ck["backbone_onnx_state"]}
    sources = cfg["onnx"] if isinstance(cfg["onnx"], dict) else {backbone: cfg["onnx"]}
    folder = Path(ckpt_path).parent / "export"
    reps = {}
    for b, trained in states.items():
        if out and backbone != "fusion":
            dest = Path(out)
        else:
            dest = (Path(out) if out else folder) / f"{b}-{cfg['name']}.onnx"
        reps[b] = export_branch(sources[b], b, trained, dest, fp16, drop_logits, n_images, tol)
    if backbone != "fusion":
        return reps[backbone]
    return {"branches": reps, "pass": all(r["pass"] for r in reps.values())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", help="the .onnx file (default: RUN/export/<backbone>-<name>.onnx); for a fusion run, a folder")
    ap.add_argument("--fp16", action="store_true", help="also write a copy with fp16-stored weights")
    ap.add_argument("--drop-logits", action="store_true")
    ap.add_argument("--n", type=int, default=16, help="fixture images for the parity check")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    rep = export_run(args.checkpoint, args.out, args.fp16, args.drop_logits, args.n)
    return 0 if rep["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
