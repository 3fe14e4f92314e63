"""Fine-tuning of a backbone rebuilt from the app's ONNX graph, or of both fused end to end.

  /usr/bin/python3 -m training.finetune.train --name runA --backbone mobilenet_v2 --epochs 8
  /usr/bin/python3 -m training.finetune.train --name runG --backbone fusion --head-outputs mixed5,mixed6,mixed7,features ...
  (re-running the same command resumes exactly from RUN/checkpoint.pt)

Run folder: $DERMAFUSE_FINETUNE_CACHE or ~/.cache/dermafuse/finetune, /runs/<name>/ : checkpoint.pt
(atomic, every epoch and every --ckpt-every steps), metrics.json, val_scores.json and final_eval_scores.json
(per-image scores of the final model, for compare.py), log lines on stdout, export/.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .data import (DEFAULT_DRAWS, LABELS, AugmentConfig, ImageCache, Item, auc, cache_root, epoch_draws, export_protocol,
                   fixture_items, make_batch, parse_draws, read_protocol)
from .model import BACKBONES, Classifier, freeze_until, input_size, resolve_graphs

NOMINAL_RATE = {"mobilenet_v2": (25.0, 100.0), "inception_v3": (5.0, 25.0), "fusion": (4.2, 20.0)}  # train, eval img/s on 2 cores


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True, help="run name (folder under runs/)")
    ap.add_argument("--run-dir", help="explicit run folder (default: <cache>/runs/<name>)")
    ap.add_argument("--backbone", choices=sorted(BACKBONES) + ["fusion"], default="mobilenet_v2", help="one branch, or fusion: both trained end to end with one head")
    ap.add_argument("--onnx", help="backbone graph (default: the app's converted graph in ~/.cache/dermafuse/onnx); fusion: inception_v3=A,mobilenet_v2=B")
    ap.add_argument("--head-outputs", help="comma-separated graph tensors the head pools (default: features / mixed7; fusion: each branch's default)")
    ap.add_argument("--size", type=int, help="input side for a single branch (default: the graph contract's, 224 / 299); a run at another size is a measurement and is not exported")
    ap.add_argument("--protocol", help="protocol CSV (default: exported by export-protocol.ts into the run folder)")
    ap.add_argument("--holdout", choices=["ham10000", "isic2017", "isic9"], help="leave this source out of training and validation")
    ap.add_argument("--fixtures", action="store_true", help="tiny mode for tests: the 200 fixture images train and validate")
    ap.add_argument("--fixture-count", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--draws", default=",".join(f"{k}={v}" for k, v in DEFAULT_DRAWS.items()), help="per-source draws per epoch, classes balanced inside each source")
    ap.add_argument("--lr-backbone", type=float, default=1e-4)
    ap.add_argument("--lr-head", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-2)
    ap.add_argument("--min-lr-factor", type=float, default=0.0, help="cosine floor as a fraction of the peak lr")
    ap.add_argument("--warmup-steps", type=int, default=0, help="linear lr warm-up steps after the probe epochs")
    ap.add_argument("--probe-epochs", type=int, default=0, help="linear-probe epochs (head only) before unfreezing")
    ap.add_argument("--freeze-until", help="freeze backbone weights up to the node producing this tensor")
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--cache-size", type=int, default=256, help="side of the cached centre squares that crops come from")
    ap.add_argument("--min-scale", type=float, default=0.5, help="random resized crop: min area fraction")
    ap.add_argument("--jitter", type=float, default=0.1)
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--tta", action="store_true", help="4-view flip TTA in every epoch's validation")
    ap.add_argument("--final-tta", action="store_true", help="4-view flip TTA in the last epoch's validation")
    ap.add_argument("--final-eval", default="", help="comma-separated evalSets scored once after training (e.g. loso:isic2017); flip TTA with --final-tta")
    ap.add_argument("--no-val", action="store_true")
    ap.add_argument("--val-limit", type=int, default=0, help="validate on at most this many items (tests)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--no-channels-last", action="store_true")
    ap.add_argument("--ckpt-every", type=int, default=25, help="checkpoint every N steps (also at every epoch end)")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--stop-after-steps", type=int, default=0, help="stop (as if interrupted) after this global step (tests)")
    ap.add_argument("--export", action="store_true", help="export the backbone to ONNX at the end (parity-checked)")
    ap.add_argument("--export-fp16", action="store_true", help="also an fp16-weights copy")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint (overwrites it)")
    return ap


CORE_KEYS = ["backbone", "epochs", "batch", "draws", "lr_backbone", "lr_head", "weight_decay", "min_lr_factor", "warmup_steps", "probe_epochs",
             "freeze_until", "dropout", "label_smoothing", "cache_size", "min_scale", "jitter", "no_augment", "seed", "holdout", "fixtures", "head_outputs", "size"]


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_json(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def lr_factor(step: int, probe_steps: int, total: int, warmup: int, floor: float) -> float:
    if step < probe_steps:
        return 1.0
    s = step - probe_steps
    n = max(1, total - probe_steps)
    if warmup and s < warmup:
        return (s + 1) / warmup
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(s, n) / n))


def evaluate(model: Classifier, cache: ImageCache, items: Sequence[Item], device: torch.device, tta: bool, batch: int = 64, channels_last: bool = True,
             per_image: bool = False) -> dict:
    model.eval()
    scores: List[float] = []
    losses: List[float] = []
    with torch.no_grad():
        for i in range(0, len(items), batch):
            chunk = items[i : i + batch]
            x = torch.from_numpy(np.stack([cache.get(it) for it in chunk]).astype(np.float32)).to(device)
            y = torch.tensor([it.y for it in chunk], device=device)
            views = [x, x.flip(2), x.flip(1), x.flip(1).flip(2)] if tta else [x]  # NHWC: 2 = W, 1 = H
            probs = torch.stack([F.softmax(model(v), dim=1) for v in views]).mean(0)
            scores.extend(probs[:, 1].tolist())
            losses.extend(F.nll_loss(torch.log(probs.clamp_min(1e-7)), y, reduction="none").tolist())
    labels = [it.y for it in items]
    out = {"n": len(items), "auc": auc(scores, labels), "loss": float(np.mean(losses)) if losses else float("nan"), "tta": tta, "by_set": {}}
    for es in sorted({it.evalSet for it in items}):
        idx = [k for k, it in enumerate(items) if it.evalSet == es]
        out["by_set"][es] = {"n": len(idx), "auc": auc([scores[k] for k in idx], [labels[k] for k in idx])}
    if per_image:  # for paired comparisons of runs on the same images (compare.py)
        out["images"] = [{"id": it.id, "evalSet": it.evalSet, "y": it.y, "p": p} for it, p in zip(items, scores)]
    return out


def fmt_eval(e: dict) -> str:
    return f"AUC {e['auc']:.4f} (n={e['n']}, loss {e['loss']:.4f}{', TTA' if e['tta'] else ''}) " + " ".join(f"{k} {v['auc']:.4f}" for k, v in e["by_set"].items())


def load_items(args, run_dir: Path) -> List[Item]:
    if args.fixtures:
        items = fixture_items()[: args.fixture_count] if args.fixture_count < 200 else fixture_items()
        if args.fixture_count < 200:  # keep both classes
            allf = fixture_items()
            items = [i for i in allf if i.label == "benign"][: args.fixture_count // 2] + [i for i in allf if i.label == "malignant"][: args.fixture_count - args.fixture_count // 2]
        # fixtures are ISIC-9 images: one source, every item trains and validates
        for it in items:
            it.source = "isic9"
        val = [Item(**{**it.__dict__, "role": "val", "evalSet": "val:fixtures"}) for it in items]
        return items + val
    path = Path(args.protocol) if args.protocol else run_dir / "protocol.csv"
    if not path.exists():
        log(f"exporting the protocol (holdout={args.holdout}) to {path}")
        export_protocol(path, args.holdout)
    return read_protocol(path)


def train(argv: Optional[Sequence[str]] = None) -> dict:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available")
    run_dir = Path(args.run_dir) if args.run_dir else cache_root() / "runs" / args.name
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = run_dir / "checkpoint.pt"
    config = {k: getattr(args, k) for k in CORE_KEYS}
    if args.size and args.backbone == "fusion":
        raise SystemExit("--size: fusion feeds each branch its contract size")
    size = input_size(args.backbone, args.size)
    onnx_path = resolve_graphs(args.backbone, args.onnx)
    config.update({"name": args.name, "onnx": onnx_path})

    items = load_items(args, run_dir)
    train_items = [it for it in items if it.role == "train" and it.label in LABELS]
    val_items = [it for it in items if it.role == "val" and it.label in LABELS]
    if args.val_limit and len(val_items) > args.val_limit:  # evenly spaced, so both classes stay in
        val_items = [val_items[int(k * len(val_items) / args.val_limit)] for k in range(args.val_limit)]
    final_sets = [s for s in args.final_eval.split(",") if s]
    final_items = [it for it in items if it.evalSet in final_sets and it.label in LABELS]
    draws = parse_draws(args.draws)
    counts: Dict[str, Dict[str, int]] = {}
    for it in train_items:
        counts.setdefault(it.source, {}).setdefault(it.label, 0)
        counts[it.source][it.label] += 1
    log(f"train items {len(train_items)} {json.dumps(counts)}; val {len(val_items)}; final-eval {len(final_items)}")

    train_cache = ImageCache(train_items, args.cache_size)
    eval_cache = ImageCache(val_items + final_items, size) if (val_items or final_items) and not args.no_val else None

    torch.manual_seed(args.seed)
    model = Classifier(onnx_path, args.backbone, args.head_outputs.split(",") if args.head_outputs else None, args.dropout, args.size)
    n_frozen = freeze_until(model, args.freeze_until)
    channels_last = not args.no_channels_last
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    bb_params = [p for p in model.backbone.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": bb_params, "lr": args.lr_backbone}, {"params": model.head_parameters(), "lr": args.lr_head}], weight_decay=args.weight_decay)

    steps_per_epoch = sum(min(v, v) for k, v in draws.items() if any(it.source == k for it in train_items)) // args.batch
    total_steps = steps_per_epoch * args.epochs
    probe_steps = steps_per_epoch * args.probe_epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, probe_steps, total_steps, args.warmup_steps, args.min_lr_factor))
    aug = AugmentConfig(min_scale=args.min_scale, jitter=args.jitter, enabled=not args.no_augment)

    state = {"epoch": 0, "step": 0, "global_step": 0, "history": [], "elapsed_s": 0.0}
    if ckpt_path.exists() and not args.fresh:
        ck = torch.load(ckpt_path, map_location="cpu")
        diff = {k: (ck["config"].get(k), config[k]) for k in CORE_KEYS if ck["config"].get(k) != config[k]}
        if diff:
            raise SystemExit(f"checkpoint {ckpt_path} was made with different settings {diff}; use --fresh or another --name")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["rng"]["torch"])
        np.random.set_state(ck["rng"]["numpy"])
        random.setstate(ck["rng"]["python"])
        state = ck["state"]
        log(f"resumed from {ckpt_path} at epoch {state['epoch'] + 1} step {state['step']}/{steps_per_epoch} (global {state['global_step']})")

    def save(tag: str) -> None:
        atomic_save({
            "config": config, "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "state": state,
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
            "branch_onnx_states": {b: {k: v.detach().cpu().contiguous().clone() for k, v in st.items()} for b, st in model.onnx_states().items()},
        }, ckpt_path)

    tr_rate, ev_rate = NOMINAL_RATE[args.backbone]
    if args.backbone in ("inception_v3", "fusion") and n_frozen:
        # InceptionV3 layers before mixed3 (Mixed_6a) frozen, 299 px: ~9 img/s (notes/cpu-training.md); fused with MobileNetV2 (25)
        tr_rate = 9.0 if args.backbone == "inception_v3" else 1 / (1 / 9.0 + 1 / 25.0)
    if args.size:  # convolution cost scales with the pixel count
        tr_rate *= (BACKBONES[args.backbone]["size"] / args.size) ** 2
        ev_rate *= (BACKBONES[args.backbone]["size"] / args.size) ** 2
    remaining = total_steps - state["global_step"]
    n_val_passes = (args.epochs - state["epoch"]) * (0 if args.no_val else 1)
    est = remaining * args.batch / tr_rate + n_val_passes * len(val_items) / ev_rate + (3 * len(val_items) + 4 * len(final_items)) / ev_rate * (1 if (args.final_tta or final_items) else 0)
    log(f"{args.backbone}: {args.epochs} epochs x {steps_per_epoch} steps of {args.batch} ({steps_per_epoch * args.batch} draws/epoch), "
        f"{len(bb_params)} trainable backbone tensors ({n_frozen} frozen), probe epochs {args.probe_epochs}; "
        f"expected duration ~{est / 60:.0f} min at ~{tr_rate:.0f} img/s train, ~{ev_rate:.0f} img/s eval (refined below)")

    metrics_path = run_dir / "metrics.json"

    def write_metrics(extra: Optional[dict] = None) -> dict:
        m = {"config": config, "steps_per_epoch": steps_per_epoch, "train_counts": counts, "history": state["history"], "elapsed_s": state["elapsed_s"], **(extra or {})}
        atomic_json(m, metrics_path)
        return m

    t_start = time.time() - state["elapsed_s"]
    t_session = time.time()
    steps_session = 0
    while state["epoch"] < args.epochs:
        epoch = state["epoch"]
        order = epoch_draws(train_items, draws, args.seed, epoch)
        backbone_grad = epoch >= args.probe_epochs
        model.train()
        run_loss, run_n, t_log = 0.0, 0, time.time()
        while state["step"] < steps_per_epoch:
            s = state["step"]
            idx = order[s * args.batch : (s + 1) * args.batch]
            x, y = make_batch(train_cache, train_items, idx, size, aug, args.seed, epoch, s * args.batch)
            x, y = x.to(device), y.to(device)
            torch.manual_seed(args.seed * 1_000_003 + state["global_step"])  # dropout: a function of the step
            logits = model(x, backbone_grad=backbone_grad)
            loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            state["step"] += 1
            state["global_step"] += 1
            steps_session += 1
            run_loss += float(loss) * len(idx)
            run_n += len(idx)
            state["elapsed_s"] = time.time() - t_start
            if state["step"] % args.log_every == 0 or state["step"] == steps_per_epoch:
                # rate over the recent window (robust to pauses), ETA from it
                now = time.time()
                rate = run_n / max(1e-9, now - t_log)
                t_log = now
                left = (total_steps - state["global_step"]) * args.batch / rate + (args.epochs - epoch) * len(val_items) / ev_rate * (0 if args.no_val else 1)
                log(f"epoch {epoch + 1}/{args.epochs} step {state['step']}/{steps_per_epoch} loss {run_loss / run_n:.4f} "
                    f"lr {opt.param_groups[0]['lr']:.2e}/{opt.param_groups[1]['lr']:.2e} {rate:.1f} img/s ETA {left / 60:.1f} min")
                run_loss, run_n = 0.0, 0
            if args.stop_after_steps and state["global_step"] >= args.stop_after_steps:
                save("stop")
                log(f"stopping after global step {state['global_step']} (--stop-after-steps); rerun to resume")
                return write_metrics({"stopped": True})
            if args.ckpt_every and state["global_step"] % args.ckpt_every == 0 and state["step"] < steps_per_epoch:
                save("step")
        # epoch end: validate, then checkpoint (so a resume never repeats an epoch's steps)
        rec = {"epoch": epoch + 1, "global_step": state["global_step"], "elapsed_s": round(time.time() - t_start, 1)}
        if val_items and eval_cache is not None:
            last = epoch + 1 == args.epochs
            t0 = time.time()
            ev = evaluate(model, eval_cache, val_items, device, args.tta or (last and args.final_tta), channels_last=channels_last, per_image=last)
            if last:  # per-image scores of the final model, for paired comparisons between runs (compare.py)
                atomic_json({"checkpoint": str(ckpt_path), **ev}, run_dir / "val_scores.json")
                del ev["images"]
            if last and args.final_tta and not args.tta:
                rec["val_no_tta"] = evaluate(model, eval_cache, val_items, device, False, channels_last=channels_last)
            rec["val"] = ev
            rec["val_s"] = round(time.time() - t0, 1)
            log(f"epoch {epoch + 1} val {fmt_eval(ev)} [{rec['val_s']}s]")
        state["history"].append(rec)
        state["epoch"] += 1
        state["step"] = 0
        state["elapsed_s"] = time.time() - t_start
        save("epoch")
        write_metrics()
    extra: Dict[str, object] = {}
    if final_items and eval_cache is not None and "final_eval" not in state:
        fe = evaluate(model, eval_cache, final_items, device, args.final_tta or args.tta, channels_last=channels_last, per_image=True)
        atomic_json({"checkpoint": str(ckpt_path), **fe}, run_dir / "final_eval_scores.json")
        del fe["images"]
        state["final_eval"] = fe
        log(f"final eval ({','.join(final_sets)}) {fmt_eval(fe)}")
    if "final_eval" in state:
        extra["final_eval"] = state["final_eval"]
    if args.export:
        from .export import export_run
        model.to(memory_format=torch.contiguous_format)
        extra["export"] = export_run(ckpt_path, fp16=args.export_fp16)
    log(f"done in {state['elapsed_s'] / 60:.1f} min; metrics {metrics_path}")
    return write_metrics(extra)


def main(argv=None) -> int:
    train(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
