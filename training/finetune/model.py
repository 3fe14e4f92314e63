"""Backbones (rebuilt from the app's ONNX graphs) and the per-branch classifier."""
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


class Classifier(nn.Module):
    """backbone -> global average pool of the head outputs (NHWC) -> dropout -> linear(2)."""

    def __init__(self, onnx_path: str, backbone: str, head_outputs: Optional[Sequence[str]] = None, dropout: float = 0.2):
        super().__init__()
        spec = BACKBONES[backbone]
        self.backbone_name = backbone
        self.head_outputs = list(head_outputs or spec["head"])
        self.backbone = OnnxModule(onnx_path, outputs=self.head_outputs)
        with torch.no_grad():
            probe = self.backbone(torch.zeros(1, spec["size"], spec["size"], 3))
        width = sum(v.shape[-1] for v in probe.values())
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(width, 2)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)
        self.size = spec["size"]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        outs = self.backbone(x)
        return torch.cat([outs[k].mean(dim=(1, 2)) for k in self.head_outputs], dim=1)

    def forward(self, x: torch.Tensor, backbone_grad: bool = True) -> torch.Tensor:
        if backbone_grad:
            f = self.features(x)
        else:
            with torch.no_grad():
                f = self.features(x)
        return self.fc(self.dropout(f))

    def head_parameters(self) -> List[nn.Parameter]:
        return list(self.fc.parameters())


def freeze_until(model: Classifier, tensor_name: Optional[str]) -> int:
    """Freeze every backbone parameter consumed by nodes before the node producing `tensor_name`
    (inclusive). Returns the number of frozen parameter tensors."""
    if not tensor_name:
        return 0
    outs = [o for _, _, os_, _ in model.backbone.plan for o in os_]
    node_of = {o: i for i, (_, _, os_, _) in enumerate(model.backbone.plan) for o in os_}
    if tensor_name not in node_of:
        raise KeyError(f"--freeze-until: no node produces '{tensor_name}' (e.g. {outs[len(outs) // 3]})")
    limit = node_of[tensor_name]
    n = 0
    for key, p in model.backbone.params.items():
        if model.backbone.param_node_index.get(key, 1 << 30) <= limit:
            p.requires_grad_(False)
            n += 1
    return n
