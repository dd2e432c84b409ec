"""Score trained weights against the repeat-initial-box baseline on a held-out procedural split.

    trackkit train --preset ostrack-cpu --out runs/ostrack-cpu          # ~10 min on 2 cores
    python benchmarks/bench_train.py --preset ostrack-cpu --weights runs/ostrack-cpu/model.pth

The held-out split is generated in memory (``split='val'``: its sequences come from other
random streams than the training split's) and never used for tuning. Both trackers are
tracked with trackkit.track and scored with trackkit.eval under the GOT-10k protocol;
the script prints AO / SR0.5 side by side and their ratio.
"""
from __future__ import annotations

import argparse
import tempfile
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--sequences", type=int, default=30)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--synth-preset", default="default")
    ap.add_argument("--batch-size", type=int, default=10, help="sequences tracked per forward")
    ap.add_argument("--out", default=None, help="results folder (default: a temporary one)")
    args = ap.parse_args(argv)

    from trackkit.data.synth import SynthDataset, get_synth_preset
    from trackkit.eval.api import evaluate
    from trackkit.track.baselines import InitBoxTracker
    from trackkit.track.runner import run_tracker
    from trackkit.families import build_tracker

    weights = args.weights
    if weights.endswith("checkpoint.pth"):  # a training checkpoint: score its current weights
        import os

        import torch

        from trackkit.train.checkpoint import load_checkpoint

        ck = load_checkpoint(weights)
        fd, weights = tempfile.mkstemp(suffix=".pth")
        os.close(fd)
        torch.save(ck["model"], weights)
        print(f"scoring the weights of epoch {ck['epoch']} from {args.weights}")
    val = list(SynthDataset(get_synth_preset(args.synth_preset), args.sequences, args.frames, seed=args.seed, split="val"))
    out = args.out or tempfile.mkdtemp(prefix="bench_train_")
    rows = {}
    for name, tracker, bs in [("init_box", InitBoxTracker(), 1),
                              (args.preset, build_tracker(args.preset, weights=weights), args.batch_size)]:
        t0 = time.perf_counter()
        run_tracker(tracker, val, out, name=name, batch_size=bs, resume=False, progress=False)
        res = evaluate(val, f"{out}/{name}", "got10k")
        rows[name] = (res.summary, time.perf_counter() - t0)
    for name, (s, wall) in rows.items():
        print(f"{name:>16}: AO {s['ao']:.3f}  SR0.5 {s['sr50']:.3f}  ({wall:.0f} s)")
    base, trained = rows["init_box"][0]["ao"], rows[args.preset][0]["ao"]
    print(f"AO ratio trained / init_box: {trained / base:.2f} on {len(val)} held-out sequences ({out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
