import unittest

import numpy as np

from training.finetune.compare import compare, late_fusion


def scores(ps, ys, es="val:x"):
    return {f"i{k}": (float(p), int(y), es) for k, (p, y) in enumerate(zip(ps, ys))}


class CompareTest(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(0)
        self.y = np.array([0] * 60 + [1] * 20)
        self.noise = rng.random(80)

    def test_same_scores_differ_by_nothing(self):
        a = scores(self.noise, self.y)
        r = compare(a, a, rounds=200)["all"]
        self.assertEqual(r["diff"], 0.0)
        self.assertEqual(r["ci"], [0.0, 0.0])

    def test_a_perfect_ranking_beats_noise_with_an_interval_above_zero(self):
        a = scores(self.y + 0.1 * self.noise, self.y)
        b = scores(self.noise, self.y)
        r = compare(a, b, rounds=300)["all"]
        self.assertEqual(r["a"], 1.0)
        self.assertGreater(r["ci"][0], 0.2)
        self.assertEqual(r["p_a_not_better"], 0.0)
        self.assertEqual((r["n"], r["positives"]), (80, 20))

    def test_late_fusion_averages_per_image_and_keeps_common_ids(self):
        a = scores([0.2, 0.8, 0.4], [0, 1, 0])
        b = scores([0.6, 0.4], [0, 1])
        f = late_fusion(a, b)
        self.assertEqual(sorted(f), ["i0", "i1"])
        self.assertAlmostEqual(f["i0"][0], 0.4)
        self.assertAlmostEqual(f["i1"][0], 0.6)

    def test_sets_filter_and_per_set_rows(self):
        a = {f"i{k}": (float(p), int(y), "val:a" if k % 2 else "val:b") for k, (p, y) in enumerate(zip(self.noise, self.y))}
        self.assertEqual(set(compare(a, a, rounds=50)), {"all", "val:a", "val:b"})
        self.assertEqual(set(compare(a, a, sets=["val:b"], rounds=50)), {"all", "val:b"})
        self.assertEqual(compare(a, a, sets=["val:b"], rounds=50)["all"]["n"], 40)
