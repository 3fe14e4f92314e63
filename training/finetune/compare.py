"""Paired comparison of fine-tuning runs' own heads on the same images (validation choices between
recipes; the app's head is compared by training/scripts/compare-recipes.ts).

  /usr/bin/python3 -m training.finetune.compare --a G.json --b C.json [--b-plus A.json] [--sets val:isic2017]

Inputs are `evaluate.py --out` files. `--b-plus` averages B's probability with another run's per image
(late fusion of branches fine-tuned separately). Prints AUC of A and B, and A - B with a 95% paired
bootstrap interval (images resampled within each class, 2000 rounds, fixed seed), overall and per evalSet.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .data import auc


def load_scores(path: str) -> Dict[str, Tuple[float, int, str]]:
    ev = json.loads(open(path).read())
    if "images" not in ev:
        raise SystemExit(f"{path}: no per-image scores (run evaluate.py with --out)")
    return {im["id"]: (im["p"], im["y"], im["evalSet"]) for im in ev["images"]}


def late_fusion(a: Dict[str, Tuple[float, int, str]], b: Dict[str, Tuple[float, int, str]]) -> Dict[str, Tuple[float, int, str]]:
    return {k: ((a[k][0] + b[k][0]) / 2, a[k][1], a[k][2]) for k in a if k in b}


def paired_bootstrap(pa: np.ndarray, pb: np.ndarray, y: np.ndarray, rounds: int = 2000, seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    diffs = np.empty(rounds)
    for r in range(rounds):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        diffs[r] = auc(pa[idx], y[idx]) - auc(pb[idx], y[idx])
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {"a": auc(pa, y), "b": auc(pb, y), "diff": auc(pa, y) - auc(pb, y), "ci": [float(lo), float(hi)],
            "p_a_not_better": float((diffs <= 0).mean()), "n": int(len(y)), "positives": int(len(pos))}


def compare(a: Dict[str, Tuple[float, int, str]], b: Dict[str, Tuple[float, int, str]], sets: Optional[Sequence[str]] = None, rounds: int = 2000) -> Dict[str, dict]:
    ids = sorted(k for k in a if k in b and (not sets or a[k][2] in sets))
    if not ids:
        raise SystemExit("no images in common")
    groups: Dict[str, List[str]] = {"all": ids}
    for k in ids:
        groups.setdefault(a[k][2], []).append(k)
    out = {}
    for name, g in groups.items():
        y = np.array([a[k][1] for k in g])
        if y.min() == y.max():
            continue
        out[name] = paired_bootstrap(np.array([a[k][0] for k in g]), np.array([b[k][0] for k in g]), y, rounds)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--b-plus", help="average B's probabilities with this run's (late fusion)")
    ap.add_argument("--sets", help="comma-separated evalSets (default: every one in both files)")
    ap.add_argument("--rounds", type=int, default=2000)
    args = ap.parse_args(argv)
    a, b = load_scores(args.a), load_scores(args.b)
    if args.b_plus:
        b = late_fusion(b, load_scores(args.b_plus))
    res = compare(a, b, args.sets.split(",") if args.sets else None, args.rounds)
    for name, r in res.items():
        print(f"{name:18s} n={r['n']:5d} (+{r['positives']:3d})  A {r['a']:.4f}  B {r['b']:.4f}  A-B {r['diff']:+.4f} [{r['ci'][0]:+.4f}, {r['ci'][1]:+.4f}]  P(A<=B) {r['p_a_not_better']:.3f}")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
