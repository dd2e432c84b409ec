"""``trackkit track --preset P --weights W --dataset DIR --out RESULTS``: run a tracker over a
dataset and write result files (got10k or pytracking layout) that ``trackkit eval`` scores.

Results go to ``RESULTS/<name>/`` (name: ``--name`` or the preset name). Rerunning the same
command skips finished sequences. ``--batch N`` advances N sequences per forward pass; the
boxes are the same as with ``--batch 1``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trackkit.cli.options import add_overrides

HELP = "run a tracker over a dataset and write result files"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", required=True, help="model preset (see `trackkit presets`)")
    p.add_argument("--weights", type=Path, default=None,
                   help="checkpoint to load (trackkit or official state dict); without it the "
                        "network is untrained (for speed checks only)")
    p.add_argument("--dataset", required=True, type=Path, help="dataset root or split folder")
    p.add_argument("--out", required=True, type=Path, help="results root; files go to OUT/<name>/")
    p.add_argument("--name", default=None, help="result folder name (default: the preset name)")
    p.add_argument("--batch", type=int, default=1, help="sequences per forward pass (default 1)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--layout", choices=["got10k", "pytracking"], default="got10k")
    add_overrides(p)
    p.add_argument("--sequences", default=None, help="comma-separated sequence names to run (default all)")
    p.add_argument("--no-batch-invariant", action="store_true",
                   help="let PyTorch pick CPU kernels by batch size (faster, but boxes then differ "
                        "in the last bits between batch sizes)")
    p.add_argument("--no-resume", action="store_true", help="rerun sequences that already have results")
    p.add_argument("--no-progress", action="store_true")


def run(args) -> int:
    from trackkit.data.readers import load_dataset
    from trackkit.errors import ConfigError
    from trackkit.track.runner import run_tracker
    from trackkit.families import build_tracker

    if args.batch < 1:
        raise ConfigError(f"--batch {args.batch}: must be >= 1")
    dataset = load_dataset(args.dataset)
    if args.sequences:
        wanted = [s.strip() for s in args.sequences.split(",") if s.strip()]
        by_name = {s.name: s for s in dataset}
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            raise ConfigError(f"--sequences: not in {args.dataset}: {', '.join(unknown)}")
        dataset = [by_name[n] for n in wanted]
    if args.weights is None:
        print("trackkit track: warning: no --weights, tracking with an untrained network", file=sys.stderr)
    tracker = build_tracker(args.preset, weights=args.weights, device=args.device, overrides=args.overrides,
                            batch_invariant=not args.no_batch_invariant)
    s = run_tracker(tracker, dataset, args.out, name=args.name, layout=args.layout, batch_size=args.batch,
                    resume=not args.no_resume, progress=not args.no_progress)
    print(f"{s.tracker}: {s.sequences} sequences tracked, {s.skipped} already done; {s.frames} frames in "
          f"{s.seconds:.1f} s ({s.fps:.1f} fps end to end, {s.tracker_fps:.1f} fps tracker time) -> {s.folder}")
    return 0
