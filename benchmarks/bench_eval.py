"""Scoring speed: trackkit's protocols vs the got10k toolkit on the same files.

Writes a synthetic split (GOT-10k layout annotations) and perturbed results (GOT-10k layout,
3 repetitions + times, and pytracking layout) to a temp dir, then times, side by side:

* got10k toolkit ``ExperimentGOT10k.report`` (val) -- image listing stubbed (no frames are
  written; both sides read only annotation, label, meta and result files) and the PNG plot
  skipped;
* trackkit: reading the annotations + ``evaluate(..., "got10k")`` on the same folder, and
  every other protocol on the pytracking-layout folder.

Prints both times, the ratio, and both AO / SR values (they must be identical).

    python benchmarks/bench_eval.py                       # 280 sequences x 2500 frames
    python benchmarks/bench_eval.py --sequences 20 --frames 200   # CI size
"""
from __future__ import annotations

import argparse
import glob as _glob
import os
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=280)
    ap.add_argument("--frames", type=int, default=2500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="timed repetitions (best of)")
    args = ap.parse_args(argv)

    from tqdm import tqdm

    from trackkit.eval import evaluate, write_got10k_results, write_pytracking_results
    from trackkit.eval.synthetic import perturbed_results, read_got10k_split_annotations, synthetic_dataset, write_got10k_split

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        ds = synthetic_dataset(args.sequences, args.frames, seed=args.seed)
        res = perturbed_results(ds, seed=args.seed + 1, runs=3)
        for s in tqdm(ds, desc="writing files"):
            write_got10k_split(tmp / "data" / "val", [s])
            write_got10k_results(tmp / "results" / "GOT-10k" / "trk", {s.name: res[s.name]})
            write_pytracking_results(tmp / "pytracking" / "trk", {s.name: res[s.name]})
        write_got10k_split.__globals__["write_text"](tmp / "data" / "val" / "list.txt",
                                                     "\n".join(s.name for s in ds) + "\n")
        print(f"wrote {args.sequences} sequences x {args.frames} frames in {time.perf_counter() - t0:.1f} s")

        # ---- got10k toolkit
        ref, t_ref = None, []
        try:
            import matplotlib

            matplotlib.use("Agg")
            from got10k.experiments import ExperimentGOT10k

            real_glob = _glob.glob

            def fake_glob(pattern, *a, **k):  # frame listing: the files are not written
                if pattern.endswith("*.jpg"):
                    return [f"{i:08d}.jpg" for i in range(args.frames)]
                return real_glob(pattern, *a, **k)

            for _ in range(args.repeat):
                exp = ExperimentGOT10k(str(tmp / "data"), subset="val", result_dir=str(tmp / "results"),
                                       report_dir=str(tmp / "reports"))
                with mock.patch("glob.glob", fake_glob), mock.patch.object(ExperimentGOT10k, "plot_curves"), \
                        mock.patch("builtins.print"):
                    t = time.perf_counter()
                    ref = exp.report(["trk"])["trk"]["overall"]
                    t_ref.append(time.perf_counter() - t)
        except ImportError as e:
            print(f"got10k toolkit not installed ({e}); timing trackkit only")

        # ---- trackkit, same files
        t_ours = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            split = read_got10k_split_annotations(tmp / "data" / "val")
            ours = evaluate(split, tmp / "results" / "GOT-10k" / "trk", "got10k")
            t_ours.append(time.perf_counter() - t)
        print()
        print(f"{'got10k protocol':<28}{'time [s]':>10}{'AO':>22}{'SR@0.5':>22}")
        if ref is not None:
            print(f"{'  got10k toolkit':<28}{min(t_ref):>10.3f}{ref['ao']:>22.17f}{ref['sr']:>22.17f}")
        print(f"{'  trackkit':<28}{min(t_ours):>10.3f}{ours.summary['ao']:>22.17f}{ours.summary['sr50']:>22.17f}")
        if ref is not None:
            same = abs(ref["ao"] - ours.summary["ao"]) <= 1e-9 and abs(ref["sr"] - ours.summary["sr50"]) <= 1e-9
            print(f"  ratio (toolkit / trackkit): {min(t_ref) / min(t_ours):.1f}x   identical numbers: {same}   "
                  f"|dAO| = {abs(ref['ao'] - ours.summary['ao']):.1e}")

        # ---- other protocols on the pytracking-layout folder (no reference installed)
        print()
        print(f"{'protocol (pytracking files)':<28}{'time [s]':>10}   summary")
        for p in ("otb", "uav", "nfs", "lasot", "lasot-official", "trackingnet"):
            t = time.perf_counter()
            r = evaluate(split, tmp / "pytracking" / "trk", p)
            dt = time.perf_counter() - t
            s = ", ".join(f"{k}={v:.4f}" for k, v in r.summary.items() if v is not None)
            print(f"  {p:<26}{dt:>10.3f}   {s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
