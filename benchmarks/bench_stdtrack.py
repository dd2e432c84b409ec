"""STDTrack speed, side by side in one run: (1) the multi-scale head re-parameterised vs
multi-branch (head only, on the backbone's search feature map), (2) tracking fps of the full
STDTrack vs its Table 3 baseline (the same backbone without token, MFIFM, mask and RepConv head).

    .venv/bin/python benchmarks/bench_stdtrack.py [--scale cpu|paper] [--runs 50] [--warmup 5]
        [--sequences 4] [--frames 20] [--repeats 3] [--threads N]

Head latency: :func:`trackkit.profiling.compare_latency` (interleaved A/B, median), batch 1,
random feature map. Tracking: each tracker runs every sequence one frame at a time (crops,
model, post-processing, STM update; frames pre-rendered in memory); the two alternate within
each repeat and the median wall time is shown. Untrained weights (speed does not depend on them).
"""
from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd
import torch

from trackkit.data.sequence import ArrayFrames, Sequence
from trackkit.data.synth import SynthConfig, SynthDataset
from trackkit.families import build_model, build_tracker, get_preset
from trackkit.models.repconv import reparameterize_model
from trackkit.profiling import compare_latency
from trackkit.track.runner import track_sequence


def head_latency(preset_name: str, runs: int, warmup: int) -> pd.DataFrame:
    cfg = get_preset(preset_name).model
    torch.manual_seed(0)
    head = build_model(preset_name, load_pretrained_weights=False).box_head.eval()
    tokens = torch.randn(1, cfg.feat_size ** 2, cfg.embed_dim)
    heads = {"multi-branch": head, "re-parameterised": reparameterize_model(head)}
    lat = compare_latency(heads, (tokens,), warmup=warmup, runs=runs)
    base = lat["multi-branch"]["median"]
    return pd.DataFrame([{"head": k, "latency_ms": v["median"], "p10_ms": v["p10"], "p90_ms": v["p90"],
                          "speedup vs multi-branch": base / v["median"],
                          "params_m": sum(p.numel() for p in heads[k].parameters()) / 1e6}
                         for k, v in lat.items()])


def tracking_fps(presets: dict[str, str], sequences: int, frames: int, repeats: int) -> pd.DataFrame:
    synth = SynthDataset(SynthConfig(), sequences, frames, seed=0, split="test")
    seqs = [Sequence(s.name, ArrayFrames([s.frames[i] for i in range(len(s))]), s.boxes) for s in synth]
    n = sum(len(s) for s in seqs)
    torch.manual_seed(0)
    trackers = {k: build_tracker(p) for k, p in presets.items()}
    for trk in trackers.values():  # warm-up
        track_sequence(trk, seqs[0])
    times = {k: [] for k in trackers}
    for r in range(repeats):
        for k in (list(trackers) if r % 2 == 0 else list(trackers)[::-1]):
            t0 = time.perf_counter()
            for s in seqs:
                track_sequence(trackers[k], s)
            times[k].append(time.perf_counter() - t0)
    base = statistics.median(times["baseline"])
    return pd.DataFrame([{"tracker": k, "preset": presets[k], "fps": n / statistics.median(ts),
                          "time vs baseline": statistics.median(ts) / base} for k, ts in times.items()])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=("cpu", "paper"), default="cpu")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--sequences", type=int, default=4)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    prefix = "stdtrack-cpu-" if args.scale == "cpu" else "stdtrack-"
    print(f"scale {args.scale}, torch threads {torch.get_num_threads()}")
    print(f"\n(1) multi-scale head of {prefix}full, batch 1, median of {args.runs} interleaved runs")
    print(head_latency(prefix + "full", args.runs, args.warmup).to_string(index=False, float_format="{:.3f}".format))
    print(f"\n(2) tracking, {args.sequences} sequences x {args.frames} frames one frame at a time, "
          f"median of {args.repeats} alternating repeats")
    df = tracking_fps({"baseline": prefix + "baseline", "STDTrack (full)": prefix + "full"},
                      args.sequences, args.frames, args.repeats)
    print(df.to_string(index=False, float_format="{:.3f}".format))


if __name__ == "__main__":
    main()
