"""Backbones (rebuilt from the app's ONNX graphs) and the classifier: one branch, or both fused."""
from __future__ import annotations

import glob
import os
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import onnx
import torch
from torch import nn

from .data import REPO
from .onnx_torch import OnnxModule

BACKBONES: Dict[str, dict] = {
    # size: input side; contract: the graph outputs the app expects; head: outputs the head pools.
    "mobilenet_v2": {"size": 224, "contract": ["features", "logits"], "head": ["features"], "glob": "mobilenet_v2-*.onnx"},
    "inception_v3": {"size": 299, "contract": ["mixed5", "mixed6", "mixed7"], "head": ["mixed7"], "glob": "inception_v3-*.onnx"},
}


def onnx_dir() -> Path:
    base = os.environ.get("DERMAFUSE_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dermafuse")
    return Path(base) / "onnx"


def resolve_onnx(backbone: str, path: Optional[str] = None) -> str:
    """The app's converted graph for `backbone` (one whose outputs cover the contract); converts
    with scripts/convert-backbones.ts when none is cached."""
    if path:
        return path
    spec = BACKBONES[backbone]

    def find() -> Optional[str]:
        cands = sorted(glob.glob(str(onnx_dir() / spec["glob"])), key=os.path.getmtime, reverse=True)
        for c in cands:
            outs = [o.name for o in onnx.load(c, load_external_data=False).graph.output]
            if all(o in outs for o in spec["contract"]):
                return c
        return None

    found = find()
    if not found:
        subprocess.run(["npx", "tsx", "scripts/convert-backbones.ts", "--layers", "mixed5,mixed6,mixed7"], cwd=REPO, check=True)
        found = find()
    if not found:
        raise FileNotFoundError(f"no {backbone} ONNX graph with outputs {spec['contract']} in {onnx_dir()}")
    return found


# The app's fusion: both backbones look at the same image.
FUSION = ("inception_v3", "mobilenet_v2")


def branches_of(backbone: str) -> List[str]:
    return list(FUSION) if backbone == "fusion" else [backbone]


def input_size(backbone: str, size: Optional[int] = None) -> int:
    """Side of the images a run feeds its model: the branch's own size (or `size`), the larger one for fusion."""
    if backbone == "fusion":
        return max(BACKBONES[b]["size"] for b in FUSION)
    return size or BACKBONES[backbone]["size"]


def resolve_graphs(backbone: str, path: Optional[str] = None) -> str | Dict[str, str]:
    """The graph a run starts from: one path, or {branch: path} for fusion (`path` = 'inception_v3=A,mobilenet_v2=B')."""
    if backbone != "fusion":
        return resolve_onnx(backbone, path)
    given = dict(kv.split("=", 1) for kv in path.split(",")) if path else {}
    return {b: resolve_onnx(b, given.get(b)) for b in FUSION}


def resize_nhwc(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[1] == size and x.shape[2] == size:
        return x
    y = nn.functional.interpolate(x.permute(0, 3, 1, 2), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return y.permute(0, 2, 3, 1)


class Classifier(nn.Module):
    """backbone(s) -> global average pool of each head output (NHWC) -> concatenation -> dropout -> linear(2).

    One backbone for a per-branch run. `fusion` runs both backbones on the same image and trains them
    end to end with one head: the batch arrives at the larger input size and is resized (antialiased
    bilinear) for the smaller branch. A single-branch model keeps `backbone` as its module so older
    checkpoints load unchanged."""

    def __init__(self, onnx_path: str | Dict[str, str], backbone: str, head_outputs: Optional[Sequence[str]] = None, dropout: float = 0.2,
                 size: Optional[int] = None):
        super().__init__()
        self.backbone_name = backbone
        names = branches_of(backbone)
        paths = onnx_path if isinstance(onnx_path, dict) else {backbone: onnx_path}
        self.head_outputs = {b: self._branch_heads(b, paths[b], head_outputs) for b in names}
        self.sizes = {b: (size if backbone != "fusion" and size else BACKBONES[b]["size"]) for b in names}
        self.size = input_size(backbone, size)
        mods = {b: OnnxModule(paths[b], outputs=self.head_outputs[b]) for b in names}
        self.backbone = mods[backbone] if backbone != "fusion" else nn.ModuleDict(mods)
        with torch.no_grad():
            width = self.features(torch.zeros(1, self.size, self.size, 3)).shape[1]
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(width, 2)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    @staticmethod
    def _branch_heads(branch: str, path: str, head_outputs: Optional[Sequence[str]]) -> List[str]:
        if not head_outputs:
            return list(BACKBONES[branch]["head"])
        produced = {o for n in onnx.load(path, load_external_data=False).graph.node for o in n.output}
        mine = [h for h in head_outputs if h in produced]
        if not mine:
            raise KeyError(f"--head-outputs {','.join(head_outputs)}: none is produced by the {branch} graph")
        return mine

    def branch_modules(self) -> Dict[str, OnnxModule]:
        return dict(self.backbone.items()) if isinstance(self.backbone, nn.ModuleDict) else {self.backbone_name: self.backbone}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        pooled = []
        for b, m in self.branch_modules().items():
            outs = m(resize_nhwc(x, self.sizes[b]))
            pooled.extend(outs[k].mean(dim=(1, 2)) for k in self.head_outputs[b])
        return torch.cat(pooled, dim=1)

    def forward(self, x: torch.Tensor, backbone_grad: bool = True) -> torch.Tensor:
        if backbone_grad:
            f = self.features(x)
        else:
            with torch.no_grad():
                f = self.features(x)
        return self.fc(self.dropout(f))

    def head_parameters(self) -> List[nn.Parameter]:
        return list(self.fc.parameters())

    def onnx_states(self) -> Dict[str, Dict[str, torch.Tensor]]:
        """Trainable tensors by ONNX initializer name, per branch."""
        return {b: m.onnx_state() for b, m in self.branch_modules().items()}


def freeze_until(model: Classifier, tensor_name: Optional[str]) -> int:
    """Freeze every backbone parameter consumed by nodes before the node producing `tensor_name`
    (inclusive), in each branch whose graph produces it. Returns the number of frozen parameter tensors."""
    if not tensor_name:
        return 0
    n, found, example = 0, False, ""
    for m in model.branch_modules().values():
        node_of = {o: i for i, (_, _, os_, _) in enumerate(m.plan) for o in os_}
        if tensor_name not in node_of:
            outs = list(node_of)
            example = example or outs[len(outs) // 3]
            continue
        found = True
        limit = node_of[tensor_name]
        for key, p in m.params.items():
            if m.param_node_index.get(key, 1 << 30) <= limit:
                p.requires_grad_(False)
                n += 1
    if not found:
        raise KeyError(f"--freeze-until: no node produces '{tensor_name}' (e.g. {example})")
    return n
