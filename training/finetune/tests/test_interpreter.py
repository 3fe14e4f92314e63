import unittest

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from training.finetune.model import BACKBONES, resolve_onnx
from training.finetune.onnx_torch import OnnxModule
from training.finetune.ort import compare, ort_run
from training.finetune.parity import fixture_batch, passes, torch_outputs


class RebuildParityTest(unittest.TestCase):
    """The rebuilt modules match onnxruntime-node on real fixture images (1e-4, abs or relative to scale)."""

    def check(self, backbone, n):
        path = resolve_onnx(backbone)
        x = fixture_batch(n, BACKBONES[backbone]["size"])
        m = OnnxModule(path).eval()
        figs = compare(ort_run(path, x), torch_outputs(m, x))
        self.assertTrue(passes(figs, 1e-4), figs)
        self.assertEqual(set(figs), set(BACKBONES[backbone]["contract"]))

    def test_mobilenet_v2(self):
        self.check("mobilenet_v2", 4)

    def test_inception_v3(self):
        self.check("inception_v3", 2)

    def test_parameters_are_trainable_and_outputs_selectable(self):
        m = OnnxModule(resolve_onnx("mobilenet_v2"), outputs=["features"])
        self.assertTrue(all(p.requires_grad for p in m.parameters()))
        self.assertGreater(sum(p.numel() for p in m.parameters()), 2_000_000)
        y = m(torch.zeros(1, 224, 224, 3))
        self.assertEqual(list(y), ["features"])
        self.assertEqual(tuple(y["features"].shape), (1, 7, 7, 1280))


class SmallOpsTest(unittest.TestCase):
    def test_gemm_pad_pool_ops(self):
        rng = np.random.default_rng(0)
        w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
        g = rng.standard_normal((4 * 3 * 3, 5)).astype(np.float32)
        nodes = [
            helper.make_node("Pad", ["x", "pads"], ["p"], mode="constant"),
            helper.make_node("Conv", ["p", "w"], ["c"], pads=[0, 0, 1, 1], strides=[2, 2]),
            helper.make_node("MaxPool", ["c"], ["m"], kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Sigmoid", ["m"], ["s"]),
            helper.make_node("Flatten", ["s"], ["f"], axis=1),
            helper.make_node("Gemm", ["f", "g"], ["y"]),
        ]
        graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 10, 10])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
                                  [numpy_helper.from_array(w, "w"), numpy_helper.from_array(g, "g"), numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        path = self._tmp(model)
        x = rng.standard_normal((1, 3, 10, 10)).astype(np.float32)
        m = OnnxModule(path)
        with torch.no_grad():
            got = {k: v.numpy() for k, v in m(torch.from_numpy(x)).items()}
        figs = compare(ort_run(path, x), got)
        self.assertLess(figs["y"]["max_abs"], 1e-4, figs)
        self.assertEqual(len(list(m.parameters())), 2)  # w and g; the pads tensor is a constant

    def _tmp(self, model):
        import tempfile, os
        d = tempfile.mkdtemp(prefix="ops-")
        p = os.path.join(d, "m.onnx")
        onnx.save(model, p)
        return p
