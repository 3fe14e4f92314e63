"""A small ONNX -> PyTorch interpreter.

`OnnxModule(model_proto, outputs=[...])` rebuilds the graph node by node as an nn.Module. Float
initializers that are weights (inputs >= 1 of Conv / Gemm / MatMul / BatchNormalization) become
trainable nn.Parameters; every other initializer (normalisation constants, Clip bounds, shape
tensors) is a buffer or a Python constant. Only the nodes needed for the requested outputs run.

Supported ops (enough for the app's MobileNetV2 and InceptionV3 graphs and the usual CNN ops):
Conv, Relu, Clip, Add, Sub, Mul, Div, Concat, Transpose, Reshape, Flatten, MatMul, Gemm,
AveragePool, MaxPool, GlobalAveragePool, ReduceMean, Identity, Pad (constant), Softmax, Sigmoid,
BatchNormalization (inference form), Squeeze, Unsqueeze, Cast (to float).
"""
from __future__ import annotations

import re
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

WEIGHT_CONSUMERS = {"Conv": (1, 2), "Gemm": (1, 2), "MatMul": (1,), "BatchNormalization": (1, 2)}


def _attrs(node) -> Dict[str, object]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _sanitise(name: str, taken: set) -> str:
    key = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not key or key[0].isdigit():
        key = "p_" + key
    base, i = key, 1
    while key in taken:
        i += 1
        key = f"{base}_{i}"
    taken.add(key)
    return key


def _torch_pads(pads: Sequence[int], spatial: int = 2):
    """ONNX pads [x1_begin, x2_begin, ..., x1_end, x2_end] -> (symmetric padding or None, F.pad tuple)."""
    begin, end = list(pads[:spatial]), list(pads[spatial:])
    if begin == end:
        return tuple(begin), None
    fpad: List[int] = []
    for b, e in zip(reversed(begin), reversed(end)):
        fpad += [b, e]
    return (0,) * spatial, tuple(fpad)


class _AsymPadConv(torch.autograd.Function):
    """Export-only: a conv with asymmetric padding, emitted as ONE ONNX Conv with `pads` (instead
    of torch's dynamic Pad subgraph). Forward-only (no backward)."""

    @staticmethod
    def forward(ctx, x, w, b, kernel, stride, pads, dil, group, fpad):
        return F.conv2d(F.pad(x, fpad), w, b, stride, 0, dil, group)

    @staticmethod
    def symbolic(g, x, w, b, kernel, stride, pads, dil, group, fpad):
        return g.op("Conv", x, w, b, kernel_shape_i=list(kernel), strides_i=list(stride), pads_i=list(pads), dilations_i=list(dil), group_i=group)


class OnnxModule(nn.Module):
    def __init__(self, model: onnx.ModelProto | str, outputs: Optional[Sequence[str]] = None):
        super().__init__()
        # export_mode: emit ONNX-friendly ops (Clip instead of Relu+Clip, Conv with asymmetric pads)
        self.export_mode = False
        if isinstance(model, str):
            model = onnx.load(model)
        graph = model.graph
        inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in inits]
        self.output_names = list(outputs) if outputs else [o.name for o in graph.output]

        producers = {}
        for idx, node in enumerate(graph.node):
            for o in node.output:
                producers[o] = idx
        needed_nodes: set = set()
        stack = list(self.output_names)
        seen = set()
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in producers:
                idx = producers[name]
                if idx not in needed_nodes:
                    needed_nodes.add(idx)
                    stack.extend(i for i in graph.node[idx].input if i)
            elif name not in inits and name not in self.input_names:
                raise KeyError(f"output/tensor '{name}' is not produced by the graph")
        nodes = [n for i, n in enumerate(graph.node) if i in needed_nodes]

        trainable = set()
        for n in nodes:
            for pos in WEIGHT_CONSUMERS.get(n.op_type, ()):
                if len(n.input) > pos and n.input[pos] in inits and inits[n.input[pos]].dtype.kind == "f":
                    trainable.add(n.input[pos])
        used = {i for n in nodes for i in n.input if i in inits}
        self.params = nn.ParameterDict()
        taken: set = set()
        self._key: Dict[str, str] = {}  # onnx initializer name -> attribute key
        self._const: Dict[str, np.ndarray] = {}
        for name in sorted(used):
            arr = inits[name]
            if name in trainable:
                key = _sanitise(name, taken)
                self.params[key] = nn.Parameter(torch.from_numpy(arr.astype(np.float32, copy=True)))
                self._key[name] = key
            elif arr.dtype.kind == "f":
                key = "buf_" + _sanitise(name, taken)
                self.register_buffer(key, torch.from_numpy(arr.astype(np.float32, copy=True)))
                self._key[name] = key
                self._const[name] = arr
            else:
                self._const[name] = arr
        self.param_names = {v: k for k, v in self._key.items() if k in trainable}  # key -> onnx name
        # Node index (in execution order) of the first consumer of each parameter, for freezing.
        self.param_node_index: Dict[str, int] = {}
        self.plan: List[tuple] = []
        for idx, n in enumerate(nodes):
            fn = self._compile(n)
            self.plan.append((fn, list(n.input), list(n.output), n.name or n.output[0]))
            for i in n.input:
                if i in trainable and self._key[i] not in self.param_node_index:
                    self.param_node_index[self._key[i]] = idx
        last_use: Dict[str, int] = {}
        for idx, (_, ins, _, _) in enumerate(self.plan):
            for i in ins:
                last_use[i] = idx
        keep = set(self.output_names)
        self._free = [[i for i in set(ins) if last_use.get(i) == idx and i not in keep and i not in inits] for idx, (_, ins, _, _) in enumerate(self.plan)]

    # ---- helpers -------------------------------------------------------------------------------
    def _t(self, name: str) -> torch.Tensor:
        key = self._key[name]
        return self.params[key] if key in self.params else getattr(self, key)

    def _const_list(self, name: str) -> List[float]:
        return np.asarray(self._const[name]).reshape(-1).tolist()

    def node_outputs(self) -> List[str]:
        return [o for _, _, outs, _ in self.plan for o in outs]

    # ---- op compilation -----------------------------------------------------------------------
    def _compile(self, n) -> Callable:
        a = _attrs(n)
        op = n.op_type
        ins = list(n.input)
        if op == "Conv":
            stride = tuple(a.get("strides", [1, 1]))
            dil = tuple(a.get("dilations", [1, 1]))
            group = int(a.get("group", 1))
            auto = a.get("auto_pad", b"NOTSET")
            auto = auto.decode() if isinstance(auto, bytes) else auto
            if auto not in ("NOTSET", "VALID"):
                raise NotImplementedError(f"Conv auto_pad={auto}")
            pad, fpad = _torch_pads(a.get("pads", [0, 0, 0, 0]))
            pads = list(a.get("pads", [0, 0, 0, 0]))
            kernel = tuple(a.get("kernel_shape", []))

            def conv(x, w, b=None):
                if fpad is not None and self.export_mode:
                    if b is None:
                        b = torch.zeros(w.shape[0], dtype=w.dtype)
                    return _AsymPadConv.apply(x, w, b, kernel or tuple(w.shape[2:]), stride, pads, dil, group, fpad)
                if fpad is not None:
                    x = F.pad(x, fpad)
                return F.conv2d(x, w, b, stride, pad, dil, group)

            return conv
        if op == "Relu":
            return F.relu
        if op == "Sigmoid":
            return torch.sigmoid
        if op == "Clip":
            lo = a.get("min", None)
            hi = a.get("max", None)
            if len(ins) > 1 and ins[1]:
                lo = self._const_list(ins[1])[0]
            if len(ins) > 2 and ins[2]:
                hi = self._const_list(ins[2])[0]
            if lo == 0.0 and hi == 6.0:
                return lambda x, *_: torch.clamp(x, 0.0, 6.0) if self.export_mode else F.relu6(x)
            return lambda x, *_: torch.clamp(x, lo, hi)
        if op == "Add":
            return torch.add
        if op == "Sub":
            return torch.sub
        if op == "Mul":
            return torch.mul
        if op == "Div":
            return torch.div
        if op == "Identity":
            return lambda x: x
        if op == "Cast":
            return lambda x: x.float()
        if op == "Concat":
            axis = int(a["axis"])
            return lambda *xs: torch.cat(xs, dim=axis)
        if op == "Transpose":
            perm = list(a["perm"])
            return lambda x: x.permute(*perm)
        if op == "Reshape":
            shape = [int(s) for s in self._const_list(ins[1])]
            allowzero = int(a.get("allowzero", 0))

            def reshape(x, *_):
                s = [x.shape[i] if (d == 0 and not allowzero) else d for i, d in enumerate(shape)]
                return x.reshape(s)

            return reshape
        if op == "Flatten":
            axis = int(a.get("axis", 1))
            return lambda x: x.reshape(int(np.prod(x.shape[:axis])) if axis else 1, -1)
        if op == "MatMul":
            return torch.matmul
        if op == "Gemm":
            alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
            ta, tb = int(a.get("transA", 0)), int(a.get("transB", 0))

            def gemm(x, w, b=None):
                if ta:
                    x = x.t()
                if tb:
                    w = w.t()
                y = torch.matmul(x, w)
                if alpha != 1.0:
                    y = y * alpha
                if b is not None:
                    y = y + (b * beta if beta != 1.0 else b)
                return y

            return gemm
        if op in ("AveragePool", "MaxPool"):
            k = tuple(a["kernel_shape"])
            stride = tuple(a.get("strides", [1] * len(k)))
            ceil = bool(a.get("ceil_mode", 0))
            pad, fpad = _torch_pads(a.get("pads", [0] * 2 * len(k)))
            if op == "AveragePool":
                cip = bool(a.get("count_include_pad", 0))
                if fpad is not None:
                    raise NotImplementedError("AveragePool with asymmetric pads")
                return lambda x: F.avg_pool2d(x, k, stride, pad, ceil, cip)

            def maxpool(x):
                if fpad is not None:
                    x = F.pad(x, fpad, value=float("-inf"))
                return F.max_pool2d(x, k, stride, pad, 1, ceil)

            return maxpool
        if op == "GlobalAveragePool":
            return lambda x: x.mean(dim=(2, 3), keepdim=True)
        if op == "ReduceMean":
            axes = a.get("axes")
            if axes is None and len(ins) > 1:
                axes = [int(v) for v in self._const_list(ins[1])]
            keep = bool(a.get("keepdims", 1))
            return lambda x, *_: x.mean(dim=tuple(axes), keepdim=keep)
        if op == "Softmax":
            axis = int(a.get("axis", -1))
            return lambda x: torch.softmax(x, dim=axis)
        if op == "Pad":
            mode = a.get("mode", b"constant")
            mode = mode.decode() if isinstance(mode, bytes) else mode
            pads = a.get("pads") or [int(v) for v in self._const_list(ins[1])]
            value = self._const_list(ins[2])[0] if len(ins) > 2 and ins[2] else 0.0
            nd = len(pads) // 2
            fpad: List[int] = []
            for d in reversed(range(nd)):
                fpad += [pads[d], pads[d + nd]]
            tmode = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}[mode]
            return lambda x, *_: F.pad(x, fpad[: 2 * (x.dim() - 2)] if tmode != "constant" else fpad, mode=tmode, **({"value": value} if tmode == "constant" else {}))
        if op == "BatchNormalization":
            eps = float(a.get("epsilon", 1e-5))
            return lambda x, s, b, m, v: F.batch_norm(x, m, v, s, b, False, 0.0, eps)
        if op in ("Squeeze", "Unsqueeze"):
            axes = a.get("axes")
            if axes is None and len(ins) > 1:
                axes = [int(v) for v in self._const_list(ins[1])]
            if op == "Squeeze":
                return lambda x, *_: x.squeeze(dim=tuple(axes)) if len(axes) > 1 else x.squeeze(axes[0])

            def unsq(x, *_):
                for ax in sorted(axes):
                    x = x.unsqueeze(ax)
                return x

            return unsq
        raise NotImplementedError(f"ONNX op {op} ({n.name})")

    # ---- forward --------------------------------------------------------------------------------
    def forward(self, *inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        env: Dict[str, torch.Tensor] = dict(zip(self.input_names, inputs))
        for (fn, ins, outs, _), free in zip(self.plan, self._free):
            args = []
            for i in ins:
                if not i:
                    continue
                if i in env:
                    args.append(env[i])
                elif i in self._key:
                    args.append(self._t(i))
                # integer constants (shapes, axes) are baked into fn
            y = fn(*args)
            if len(outs) == 1:
                env[outs[0]] = y
            else:
                for o, t in zip(outs, y):
                    env[o] = t
            for f in free:
                env.pop(f, None)
        return {o: env[o] for o in self.output_names}

    def onnx_state(self) -> Dict[str, torch.Tensor]:
        """Trainable tensors by ONNX initializer name."""
        return {self.param_names[k]: v for k, v in self.params.items()}
