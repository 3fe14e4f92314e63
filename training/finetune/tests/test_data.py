import unittest
from collections import Counter

import numpy as np

from training.finetune.data import Item, auc, epoch_draws


def items():
    out = []
    spec = {"ham10000": (300, 40), "isic2017": (150, 30), "isic9": (5, 20)}
    for src, (nb, nm) in spec.items():
        for c, n in ((0, nb), (1, nm)):
            for k in range(n):
                out.append(Item(f"{src}:{c}:{k}", src, f"/x/{src}{c}{k}.jpg", f"g{k}", ["benign", "malignant"][c], "train", "train", f"{src}{c}{k}"))
    out.append(Item("ham10000:om", "ham10000", "/x/om.jpg", "om", "other_malignant", "train", "train", "om"))
    return out


class SamplerTest(unittest.TestCase):
    def test_source_and_class_balance(self):
        its = items()
        draws = {"ham10000": 100, "isic2017": 60, "isic9": 30}
        idx = epoch_draws(its, draws, seed=3, epoch=0)
        self.assertEqual(len(idx), 190)
        c = Counter((its[i].source, its[i].label) for i in idx)
        self.assertEqual(c[("ham10000", "benign")], 50)
        self.assertEqual(c[("ham10000", "malignant")], 50)
        self.assertEqual(c[("isic2017", "benign")], 30)
        self.assertEqual(c[("isic2017", "malignant")], 30)
        self.assertEqual(c[("isic9", "benign")], 15)  # pool of 5: each item 3 times
        self.assertEqual(Counter(i for i in idx if its[i].source == "isic9" and its[i].label == "benign").most_common(1)[0][1], 3)
        self.assertFalse(any(its[i].label == "other_malignant" for i in idx))
        # without replacement while the pool allows it
        ham_b = [i for i in idx if its[i].source == "ham10000" and its[i].label == "benign"]
        self.assertEqual(len(set(ham_b)), len(ham_b))

    def test_deterministic_per_epoch(self):
        its = items()
        d = {"ham10000": 40, "isic2017": 40, "isic9": 10}
        self.assertEqual(epoch_draws(its, d, 1, 0), epoch_draws(its, d, 1, 0))
        self.assertNotEqual(epoch_draws(its, d, 1, 0), epoch_draws(its, d, 1, 1))
        self.assertNotEqual(epoch_draws(its, d, 1, 0), epoch_draws(its, d, 2, 0))

    def test_missing_source_is_skipped(self):
        its = [i for i in items() if i.source != "isic2017"]
        idx = epoch_draws(its, {"ham10000": 10, "isic2017": 10, "isic9": 10}, 0, 0)
        self.assertEqual(len(idx), 20)


class AucTest(unittest.TestCase):
    def test_matches_pairwise(self):
        rng = np.random.default_rng(0)
        s = rng.integers(0, 5, 60).astype(float)
        y = rng.integers(0, 2, 60)
        pos, neg = s[y == 1], s[y == 0]
        ref = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
        self.assertAlmostEqual(auc(s, y), ref, places=12)
