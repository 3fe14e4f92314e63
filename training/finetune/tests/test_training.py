import json
import unittest

import onnx
import torch

from training.finetune.export import export_run
from training.finetune.train import train

from .common import TINY, tmp_cache


def weights(run):
    ck = torch.load(tmp_cache() / "runs" / run / "checkpoint.pt", map_location="cpu")
    return ck["model"], ck["optimizer"]["state"], ck["state"]


class ResumeTest(unittest.TestCase):
    def test_resumed_run_equals_uninterrupted(self):
        tmp_cache()
        common = TINY + ["--epochs", "2", "--ckpt-every", "1", "--seed", "5"]
        train(["--name", "straight"] + common)
        # interrupted mid-epoch 1, then mid-epoch 2, then finished
        train(["--name", "resumed", "--stop-after-steps", "1"] + common)
        train(["--name", "resumed", "--stop-after-steps", "3"] + common)
        train(["--name", "resumed"] + common)
        a_model, a_opt, a_state = weights("straight")
        b_model, b_opt, b_state = weights("resumed")
        self.assertEqual(a_state["global_step"], 4)
        self.assertEqual(b_state["global_step"], 4)
        for k in a_model:
            self.assertTrue(torch.equal(a_model[k], b_model[k]), k)
        for k in a_opt:
            self.assertTrue(torch.equal(a_opt[k]["exp_avg"], b_opt[k]["exp_avg"]), k)
        self.assertEqual([h["val"]["auc"] for h in a_state["history"]], [h["val"]["auc"] for h in b_state["history"]])
        # and the weights did move
        ck0 = torch.load(tmp_cache() / "runs" / "straight" / "checkpoint.pt", map_location="cpu")
        self.assertEqual(list(ck0["branch_onnx_states"]), ["mobilenet_v2"])


class SmokeTest(unittest.TestCase):
    def test_two_steps_export_parity(self):
        tmp_cache()
        m = train(["--name", "smoke", "--epochs", "1"] + TINY)
        self.assertEqual(m["history"][0]["global_step"], 2)
        rep = export_run(tmp_cache() / "runs" / "smoke" / "checkpoint.pt", fp16=True, n_images=4)
        self.assertTrue(rep["pass"], rep["parity_vs_torch"])
        g = onnx.load(rep["onnx"]).graph
        self.assertEqual([i.name for i in g.input], ["image"])
        self.assertEqual([o.name for o in g.output], ["features", "logits"])
        dims = [d.dim_param or d.dim_value for d in g.input[0].type.tensor_type.shape.dim]
        self.assertEqual(dims[1:], [224, 224, 3])
        self.assertIsInstance(dims[0], str)  # dynamic batch
        self.assertLess(rep["fp16"]["bytes"], 0.6 * rep["bytes"])
        self.assertIn("features", rep["fp16"]["vs_fp32"])


class FusionTest(unittest.TestCase):
    def test_end_to_end_fusion_trains_both_branches_and_exports_each(self):
        tmp_cache()
        m = train(["--name", "fusion", "--backbone", "fusion", "--epochs", "1", "--head-outputs", "mixed5,mixed6,mixed7,features",
                   "--freeze-until", "mixed2"] + TINY)
        self.assertEqual(m["history"][0]["global_step"], 2)
        ck = torch.load(tmp_cache() / "runs" / "fusion" / "checkpoint.pt", map_location="cpu")
        states = ck["branch_onnx_states"]
        self.assertEqual(sorted(states), ["inception_v3", "mobilenet_v2"])
        # the head sees both branches: 3 x 768 pooled InceptionV3 channels + 1280 MobileNetV2 channels
        self.assertEqual(tuple(ck["model"]["fc.weight"].shape), (2, 3 * 768 + 1280))
        # both branches moved, and InceptionV3 layers before mixed2 did not
        from training.finetune.model import resolve_graphs
        from training.finetune.onnx_torch import OnnxModule
        src = resolve_graphs("fusion")
        for b in states:
            orig = OnnxModule(src[b], outputs=["mixed7"] if b == "inception_v3" else ["features"]).onnx_state()
            moved = [k for k, v in states[b].items() if not torch.equal(v, orig[k])]
            self.assertTrue(moved, b)
            if b == "inception_v3":
                self.assertLess(len(moved), len(states[b]))
        rep = export_run(tmp_cache() / "runs" / "fusion" / "checkpoint.pt", n_images=2)
        self.assertTrue(rep["pass"], {b: r["parity_vs_torch"] for b, r in rep["branches"].items()})
        self.assertEqual([o.name for o in onnx.load(rep["branches"]["inception_v3"]["onnx"]).graph.output], ["mixed5", "mixed6", "mixed7"])
        self.assertEqual([o.name for o in onnx.load(rep["branches"]["mobilenet_v2"]["onnx"]).graph.output], ["features", "logits"])

    def test_a_run_at_another_size_is_not_exported(self):
        tmp_cache()
        train(["--name", "small", "--epochs", "1", "--size", "160", "--stop-after-steps", "1"] + TINY)
        with self.assertRaises(SystemExit) as e:
            export_run(tmp_cache() / "runs" / "small" / "checkpoint.pt", n_images=2)
        self.assertIn("160 px", str(e.exception))
