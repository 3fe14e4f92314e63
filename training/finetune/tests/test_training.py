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
        self.assertIn("backbone_onnx_state", ck0)


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
