"""Data: the protocol CSV (written by export-protocol.ts), a decoded-image cache, the
source-balanced sampler and the augmentation. Everything random here is a pure function of
(seed, epoch, draw index), so a resumed run sees exactly the same batches."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[2]
LABELS = {"benign": 0, "malignant": 1}  # other_malignant: excluded from training and AUC
CACHE_VERSION = 1


def cache_root() -> Path:
    env = os.environ.get("DERMAFUSE_FINETUNE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("DERMAFUSE_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dermafuse")
    return Path(base) / "finetune"


def shared_data_dir() -> Path:
    return Path(os.environ.get("DERMAFUSE_SHARED") or (REPO.parent / "shared")) / "data"


@dataclass
class Item:
    id: str
    source: str
    file: str
    group: str
    label: str
    role: str
    evalSet: str
    sha256: str

    @property
    def y(self) -> int:
        return LABELS[self.label]


def read_protocol(path: str | Path) -> List[Item]:
    with open(path, newline="") as f:
        return [Item(**{k: r[k] for k in Item.__dataclass_fields__}) for r in csv.DictReader(f)]


def export_protocol(out: Path, holdout: Optional[str] = None) -> Path:
    """Runs the one TypeScript definition of the protocol (export-protocol.ts) into a CSV."""
    cmd = ["npx", "tsx", str(REPO / "training/finetune/export-protocol.ts"), str(out)] + (["--holdout", holdout] if holdout else [])
    subprocess.run(cmd, cwd=REPO, check=True)
    return out


def fixture_items() -> List[Item]:
    d = shared_data_dir() / "fixtures"
    out = []
    with open(d / "labels.csv", newline="") as f:
        for r in csv.DictReader(f):
            p = d / r["path"]
            out.append(Item(f"fixtures:{r['path']}", "fixtures", str(p), r["isic_id"], r["label"], "train", "train", file_sha256(str(p))))
    return out


def file_sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---- decoding (the app's policy: EXIF orient, centre square of the shorter side, resize) ----------
def load_square(path: str, size: int) -> np.ndarray:
    """uint8 [size,size,3] RGB: EXIF-oriented, centre-square crop, resized (PIL Lanczos).
    The app resizes with sharp (Lanczos3); small resampling differences are expected."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
        w, h = im.size
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        im = im.crop((left, top, left + s, top + s))
        if s != size:
            im = im.resize((size, size), Image.LANCZOS)
        return np.asarray(im, dtype=np.uint8)


def _load_job(args):
    return load_square(*args)


class ImageCache:
    """Decoded centre squares at one size in a uint8 memmap [n,size,size,3], keyed by the files'
    sha256 (row order = the sorted unique shas). Built once with a progress line; reused after."""

    def __init__(self, items: Sequence[Item], size: int, root: Optional[Path] = None, workers: int = 2, quiet: bool = False):
        root = Path(root) if root else cache_root()
        root.mkdir(parents=True, exist_ok=True)
        by_sha: Dict[str, str] = {}
        for it in items:
            by_sha.setdefault(it.sha256, it.file)
        shas = sorted(by_sha)
        key = hashlib.sha256(("\n".join(shas) + f"|{size}|v{CACHE_VERSION}").encode()).hexdigest()[:16]
        self.path = root / f"images-{size}-{key}.u8"
        self.row = {s: i for i, s in enumerate(shas)}
        self.size = size
        shape = (len(shas), size, size, 3)
        done = self.path.with_suffix(".json")
        if not done.exists():
            tmp = self.path.with_suffix(".tmp")
            mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
            t0 = time.time()
            jobs = [(by_sha[s], size) for s in shas]
            with Pool(workers) as pool:
                for i, arr in enumerate(pool.imap(_load_job, jobs, chunksize=16)):
                    mm[i] = arr
                    if not quiet and ((i + 1) % 500 == 0 or i + 1 == len(jobs)):
                        el = time.time() - t0
                        print(f"\r[cache {size}px] {i + 1}/{len(jobs)} {(i + 1) / el:.0f} img/s eta {(len(jobs) - i - 1) / max(1e-9, (i + 1) / el):.0f}s", end="", file=sys.stderr, flush=True)
            mm.flush()
            del mm
            os.replace(tmp, self.path)
            done.write_text(json.dumps({"n": len(shas), "size": size, "version": CACHE_VERSION, "shas": shas}))
            if not quiet:
                print(file=sys.stderr)
        self.data = np.load(self.path, mmap_mode="r")
        assert self.data.shape == shape, (self.data.shape, shape)

    def get(self, item: Item) -> np.ndarray:
        return self.data[self.row[item.sha256]]


# ---- sampling ------------------------------------------------------------------------------------
DEFAULT_DRAWS = {"ham10000": 1500, "isic2017": 1500, "isic9": 400}


def parse_draws(spec: str) -> Dict[str, int]:
    out = {}
    for part in spec.split(","):
        k, v = part.split("=")
        out[k.strip()] = int(v)
    return out


def epoch_draws(items: Sequence[Item], draws: Dict[str, int], seed: int, epoch: int) -> List[int]:
    """Indices into `items` for one epoch: per source `draws[source]` draws, half per class
    (benign/malignant), without replacement while the class pool allows it, then shuffled.
    Sources without training items are skipped. Deterministic in (seed, epoch)."""
    rng = np.random.default_rng([seed, 7, epoch])
    out: List[int] = []
    for source in sorted(draws):
        pools = {c: [i for i, it in enumerate(items) if it.source == source and it.label in LABELS and it.y == c] for c in (0, 1)}
        if not pools[0] and not pools[1]:
            continue
        present = [c for c in (0, 1) if pools[c]]
        per = [draws[source] // len(present) + (1 if k < draws[source] % len(present) else 0) for k in range(len(present))]
        for c, n in zip(present, per):
            pool = np.asarray(pools[c])
            if n <= len(pool):
                out.extend(rng.choice(pool, size=n, replace=False).tolist())
            else:  # every item once per full pass, the remainder drawn without replacement
                reps, rest = divmod(n, len(pool))
                out.extend(np.tile(pool, reps).tolist())
                out.extend(rng.choice(pool, size=rest, replace=False).tolist())
    perm = rng.permutation(len(out))
    return [out[i] for i in perm]


# ---- augmentation ---------------------------------------------------------------------------------
@dataclass
class AugmentConfig:
    flips: bool = True
    rot90: bool = True
    min_scale: float = 0.5  # random resized crop: area fraction of the cached square
    max_ratio: float = 4 / 3
    jitter: float = 0.1  # brightness/contrast/saturation factors in [1-j, 1+j]
    enabled: bool = True


def augment_one(img: np.ndarray, out_size: int, cfg: AugmentConfig, rng: np.random.Generator) -> torch.Tensor:
    """uint8 HWC -> float32 HWC 0..255 at out_size."""
    x = torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1).float()[None]  # 1,3,H,W
    H, W = x.shape[2:]
    if cfg.enabled:
        area = H * W * rng.uniform(cfg.min_scale, 1.0)
        logr = rng.uniform(-np.log(cfg.max_ratio), np.log(cfg.max_ratio))
        ratio = float(np.exp(logr))
        cw = int(round(min(W, np.sqrt(area * ratio))))
        ch = int(round(min(H, np.sqrt(area / ratio))))
        left = int(rng.integers(0, W - cw + 1))
        top = int(rng.integers(0, H - ch + 1))
        x = x[:, :, top : top + ch, left : left + cw]
        hflip, vflip, k = rng.random() < 0.5, rng.random() < 0.5, int(rng.integers(0, 4))
        b, c, s = (rng.uniform(1 - cfg.jitter, 1 + cfg.jitter) for _ in range(3))
    if x.shape[2] != out_size or x.shape[3] != out_size:
        x = F.interpolate(x, size=(out_size, out_size), mode="bilinear", align_corners=False, antialias=True)
    if cfg.enabled:
        if cfg.flips and hflip:
            x = x.flip(3)
        if cfg.flips and vflip:
            x = x.flip(2)
        if cfg.rot90 and k:
            x = torch.rot90(x, k, (2, 3))
        if cfg.jitter > 0:
            x = x * b
            mean = x.mean()
            x = (x - mean) * c + mean
            grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
            x = (x - grey) * s + grey
        x = x.clamp(0, 255)
    return x[0].permute(1, 2, 0)


def make_batch(cache: ImageCache, items: Sequence[Item], idx: Sequence[int], out_size: int, cfg: AugmentConfig, seed: int, epoch: int, start: int):
    xs, ys = [], []
    for j, i in enumerate(idx):
        rng = np.random.default_rng([seed, 11, epoch, start + j])
        xs.append(augment_one(cache.get(items[i]), out_size, cfg, rng))
        ys.append(items[i].y)
    return torch.stack(xs).contiguous(), torch.tensor(ys, dtype=torch.long)


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """ROC AUC (Mann-Whitney, ties averaged)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))
