"""Batched vs one-at-a-time tracking throughput, measured side by side in one run.

    .venv/bin/python benchmarks/bench_tracking.py [--preset ostrack-cpu] [--batch 16]
        [--sequences 16] [--frames 12] [--repeats 3] [--threads N]

Frames are pre-rendered in memory (procedural test split) so the figures are tracking work:
crops, model and post-processing. Modes alternate within each repeat; the median is shown.
The model is untrained (speed does not depend on the weights).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
import torch

from trackkit.data.sequence import ArrayFrames, Sequence
from trackkit.data.synth import SynthConfig, SynthDataset
from trackkit.track.batched import track_batched
from trackkit.track.runner import track_sequence
from trackkit.families import build_tracker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="ostrack-cpu")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--sequences", type=int, default=16)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    synth = SynthDataset(SynthConfig(), args.sequences, args.frames, seed=0, split="test")
    seqs = [Sequence(s.name, ArrayFrames([s.frames[i] for i in range(len(s))]), s.boxes) for s in synth]
    n_frames = sum(len(s) for s in seqs)
    trackers = {inv: build_tracker(args.preset, batch_invariant=inv) for inv in (True, False)}

    def sequential(inv):
        return {s.name: track_sequence(trackers[inv], s)[0] for s in seqs}

    def batched(inv):
        return {r.name: r.boxes for r in track_batched(trackers[inv], seqs, batch_size=args.batch)}

    modes = {"one-at-a-time": sequential, f"batched x{args.batch}": batched}
    times = {(m, inv): [] for m in modes for inv in (True, False)}
    boxes = {}
    sequential(True)  # warm-up
    for _ in range(args.repeats):
        for (m, inv) in times:
            t0 = time.perf_counter()
            boxes[(m, inv)] = modes[m](inv)
            times[(m, inv)].append(time.perf_counter() - t0)
    rows = []
    base = statistics.median(times[("one-at-a-time", True)])
    for (m, inv), ts in times.items():
        med = statistics.median(ts)
        rows.append({"mode": m, "batch_invariant": inv, "seconds": med, "fps": n_frames / med,
                     "speedup vs one-at-a-time (invariant)": base / med})
    print(f"preset {args.preset}, {args.sequences} sequences x {args.frames} frames = {n_frames} frames, "
          f"torch threads {torch.get_num_threads()}, median of {args.repeats}")
    print(pd.DataFrame(rows).to_string(index=False, float_format="{:.3f}".format))
    same = all(np.array_equal(boxes[("one-at-a-time", True)][k], boxes[(f"batched x{args.batch}", True)][k])
               for k in boxes[("one-at-a-time", True)])
    print(f"batched boxes == one-at-a-time boxes (batch_invariant=True): {same}")


if __name__ == "__main__":
    main()
