"""Throughput of the procedural benchmark generator, measured side by side in one run.

    python benchmarks/bench_synth.py [--sequences 6] [--frames 50] [--preset default] [--repeat 3]

Reports, at the preset's resolution (320x240 by default):
  plan      sequences/s of make_sequence (trajectories, events, pixel-count labels; no pixels)
  render    in-memory frames/s (seq.frames[i], textures already built)
  random    frames/s reading 3 random frames per fresh sequence (a training sampler's pattern)
  jpeg      frames/s of render + JPEG encoding (no disk)
  disk      frames/s of write_split (render + JPEG + atomic writes + one sync per sequence)
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from trackkit.data.synth import encode_jpeg, get_synth_preset, make_sequence, write_split


def timed(fn, repeat: int) -> float:
    """Best of ``repeat`` wall times: the machine is shared, the minimum is the least disturbed."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=6)
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs per measurement")
    args = ap.parse_args()
    cfg = get_synth_preset(args.preset)
    n, k, r = args.sequences, args.frames, args.repeat

    make_sequence(cfg, args.seed, 0, "val", k).frames[0]  # warm imports and caches
    t_plan = timed(lambda: [make_sequence(cfg, args.seed, i, "val", k) for i in range(n)], r)
    seqs = [make_sequence(cfg, args.seed, i, "val", k) for i in range(n)]
    for s in seqs:  # textures are built on first access; that cost is in `random`
        s.frames[0]
    t_render = timed(lambda: [s.frames[i] for s in seqs for i in range(k)], r)

    rng = np.random.default_rng(0)
    picks = [(i, rng.choice(k, 3, replace=False)) for i in range(n)]

    def sample():  # what a training sampler does: a fresh sequence, a few of its frames
        for i, js in picks:
            seq = make_sequence(cfg, args.seed, i, "val", k)
            [seq.frames[int(j)] for j in js]

    t_random = timed(sample, r)
    t_jpeg = timed(lambda: [encode_jpeg(s.frames[i], cfg.jpeg_quality) for s in seqs for i in range(k)], r)

    def disk():
        with tempfile.TemporaryDirectory() as d:
            write_split(d, "val", n, k, args.seed, cfg, progress=False)

    t_disk = timed(disk, r)

    frames = n * k
    rows = [
        ("plan", n / t_plan, "sequences/s"),
        ("render", frames / t_render, "frames/s (in memory, textures already built)"),
        ("random", 3 * n / t_random, "frames/s (3 random frames per fresh sequence, planning included)"),
        ("jpeg", frames / t_jpeg, "frames/s (render + encode)"),
        ("disk", frames / t_disk, "frames/s (render + encode + write)"),
    ]
    print(f"synth preset={args.preset} {cfg.width}x{cfg.height}, {n} sequences x {k} frames, best of {r}")
    for name, rate, unit in rows:
        print(f"  {name:7s} {rate:9.1f} {unit}")
    print(f"  ratio render/disk = {t_disk / t_render:.2f}x, render/jpeg = {t_jpeg / t_render:.2f}x")


if __name__ == "__main__":
    main()
