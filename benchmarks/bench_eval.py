"""Scoring speed: trackkit's protocols vs the got10k toolkit on the same files.

Writes a synthetic split (GOT-10k layout annotations) and perturbed results (GOT-10k layout,
3 repetitions + times, and pytracking layout) to a temp dir (or ``--workdir``, reused when
it already holds the same size), then times, side by side in one run:

* got10k toolkit ``ExperimentGOT10k.report`` (val) -- image listing stubbed (no frames are
  written; both sides read only annotation, label, meta and result files) and the PNG plot
  skipped;
* trackkit: reading the annotations + ``evaluate(..., "got10k")`` on the same folder (with a
  breakdown: annotations, result files, scoring);
* every pytracking-layout protocol, trackkit's batched file parse against the per-file parse
  (the pre-batching path, forced by disabling the batch), on the same files.

Prints wall-clock seconds (best of ``--repeat``), process CPU seconds (all threads; less
disturbed by other jobs on a shared machine), the ratios, and whether the numbers are
identical (AO / SR / fps / curve against the toolkit to 1e-9, and bit-identical summaries
between batched and per-file parsing).

    python benchmarks/bench_eval.py                                # 280 sequences x 2500 frames
    python benchmarks/bench_eval.py --sequences 20 --frames 200    # CI size (same as --quick)
"""
from __future__ import annotations

import argparse
import gc
import glob as _glob
import json
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from unittest import mock

import numpy as np

PYTRACKING_PROTOCOLS = ("otb", "uav", "nfs", "lasot", "lasot-official", "trackingnet")


def timed(fn, repeat: int):
    """(result of the last call, best wall seconds, CPU seconds of that best call)."""
    best = (float("inf"), 0.0)
    out = None
    for _ in range(repeat):
        out = None  # free the previous result first: both sides start from the same memory state
        gc.collect()
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        best = min(best, (time.perf_counter() - w, time.process_time() - c))
    return out, best[0], best[1]


def write_files(root: Path, n_seq: int, n_frames: int, seed: int) -> None:
    from tqdm import tqdm

    from trackkit.atomic import write_text
    from trackkit.eval import write_got10k_results, write_pytracking_results
    from trackkit.eval.synthetic import perturbed_results, synthetic_dataset, write_got10k_split

    stamp = root / "bench_eval.json"
    want = {"sequences": n_seq, "frames": n_frames, "seed": seed}
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        print(f"reusing the files in {root}")
        return
    t0 = time.perf_counter()
    ds = synthetic_dataset(n_seq, n_frames, seed=seed)
    res = perturbed_results(ds, seed=seed + 1, runs=3)
    for s in tqdm(ds, desc="writing files"):
        write_got10k_split(root / "data" / "val", [s])
        write_got10k_results(root / "results" / "GOT-10k" / "trk", {s.name: res[s.name]})
        write_pytracking_results(root / "pytracking" / "trk", {s.name: res[s.name]})
    write_text(root / "data" / "val" / "list.txt", "\n".join(s.name for s in ds) + "\n")
    write_text(stamp, json.dumps(want))
    print(f"wrote {n_seq} sequences x {n_frames} frames in {time.perf_counter() - t0:.1f} s")


def same_summary(a: dict, b: dict) -> bool:
    """Bit-identical summaries (NaN equals NaN)."""
    return a.keys() == b.keys() and all(x == y or (x != x and y != y) for x, y in ((a[k], b[k]) for k in a))


def per_file_only():
    """Disable the batched parse: every file goes through its per-file reader (the old path)."""
    return mock.patch("trackkit.eval.results.parse_files", lambda paths, *a, **k: [None] * len(paths))


def toolkit_report(root: Path, n_frames: int, repeat: int):
    import matplotlib

    matplotlib.use("Agg")
    from got10k.experiments import ExperimentGOT10k

    real_glob = _glob.glob
    names = [f"{i:08d}.jpg" for i in range(n_frames)]

    def fake_glob(pattern, *a, **k):  # frame listing: the files are not written
        return list(names) if pattern.endswith("*.jpg") else real_glob(pattern, *a, **k)

    def run():
        exp = ExperimentGOT10k(str(root / "data"), subset="val", result_dir=str(root / "results"),
                               report_dir=str(root / "reports"))
        with mock.patch("glob.glob", fake_glob), mock.patch.object(ExperimentGOT10k, "plot_curves"), \
                mock.patch("builtins.print"):
            return exp.report(["trk"])["trk"]["overall"]

    return timed(run, repeat)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=280)
    ap.add_argument("--frames", type=int, default=2500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="timed repetitions (best of)")
    ap.add_argument("--quick", action="store_true", help="CI size: 20 sequences x 200 frames")
    ap.add_argument("--workdir", type=Path, help="keep the files here (reused when the size matches)")
    ap.add_argument("--no-per-file", action="store_true", help="skip the per-file (unbatched) timings")
    args = ap.parse_args(argv)
    if args.quick:
        args.sequences, args.frames = 20, 200

    import torch  # noqa: F401  (the pytracking protocols use it: keep its import out of the timings)

    from trackkit.eval import evaluate
    from trackkit.eval.results import read_results
    from trackkit.eval.synthetic import read_got10k_split_annotations

    with (nullcontext(args.workdir) if args.workdir else tempfile.TemporaryDirectory()) as tmp:
        root = Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        write_files(root, args.sequences, args.frames, args.seed)
        val, got_res, pyt_res = root / "data" / "val", root / "results" / "GOT-10k" / "trk", root / "pytracking" / "trk"

        # ---- got10k toolkit
        try:
            ref, t_ref, c_ref = toolkit_report(root, args.frames, args.repeat)
        except ImportError as e:
            ref = None
            print(f"got10k toolkit not installed ({e}); timing trackkit only")

        # ---- trackkit, same files
        def ours_got10k():
            return evaluate(read_got10k_split_annotations(val), got_res, "got10k")

        ours, t_ours, c_ours = timed(ours_got10k, args.repeat)
        split, t_split, c_split = timed(lambda: read_got10k_split_annotations(val), args.repeat)
        results, t_read, c_read = timed(lambda: read_results(got_res), args.repeat)
        _, t_score, c_score = timed(lambda: evaluate(split, results, "got10k"), args.repeat)

        print(f"\n{args.sequences} sequences x {args.frames} frames, best of {args.repeat}; "
              "times: wall s (process CPU s)")
        print(f"{'got10k protocol':<30}{'time [s]':>18}{'AO':>22}{'SR@0.5':>22}")
        if ref is not None:
            print(f"{'  got10k toolkit':<30}{t_ref:>9.3f} ({c_ref:6.3f}){ref['ao']:>22.17f}{ref['sr']:>22.17f}")
        print(f"{'  trackkit':<30}{t_ours:>9.3f} ({c_ours:6.3f}){ours.summary['ao']:>22.17f}"
              f"{ours.summary['sr50']:>22.17f}")
        print(f"{'    annotations':<30}{t_split:>9.3f} ({c_split:6.3f})")
        print(f"{'    result files':<30}{t_read:>9.3f} ({c_read:6.3f})")
        print(f"{'    scoring':<30}{t_score:>9.3f} ({c_score:6.3f})")
        if ref is not None:
            s = ours.summary
            same = (abs(ref["ao"] - s["ao"]) <= 1e-9 and abs(ref["sr"] - s["sr50"]) <= 1e-9
                    and abs(ref["speed_fps"] - s["fps"]) <= 1e-9 * ref["speed_fps"]
                    and np.allclose(ours.curves["success"].value, ref["succ_curve"], rtol=0, atol=1e-12))
            print(f"  ratio toolkit / trackkit: {t_ref / t_ours:.1f}x wall, {c_ref / c_ours:.1f}x CPU   "
                  f"identical numbers: {same}   |dAO| = {abs(ref['ao'] - s['ao']):.1e}, "
                  f"AO bits equal: {ref['ao'] == s['ao']}")

        if not args.no_per_file:
            with per_file_only():
                old, t_old, c_old = timed(ours_got10k, args.repeat)
            print(f"{'  trackkit per-file parse':<30}{t_old:>9.3f} ({c_old:6.3f})   batched is "
                  f"{t_old / t_ours:.1f}x faster, identical: {same_summary(old.summary, ours.summary)}")

        # ---- dataset side: the full GOT-10k reader (all labels, meta_info.ini), batched vs per-file
        from trackkit.data.readers import load_dataset

        full, t_full, c_full = timed(lambda: load_dataset(val, check_frames=False), args.repeat)
        line = f"{'  GOT-10k reader (all labels)':<30}{t_full:>9.3f} ({c_full:6.3f})"
        if not args.no_per_file:
            none = lambda paths, *a, **k: [None] * len(paths)  # noqa: E731
            with mock.patch("trackkit.data.readers.got10k.fast_tables", none), \
                    mock.patch("trackkit.data.readers.got10k.fast_flags", none):
                full_old, t_fo, c_fo = timed(lambda: load_dataset(val, check_frames=False), args.repeat)
            same = all(np.array_equal(a.boxes, b.boxes)
                       and all(np.array_equal(a.labels[k], b.labels[k]) for k in a.labels)
                       for a, b in zip(full, full_old))
            line += f"   per-file {t_fo:.3f} ({c_fo:.3f}): batched is {t_fo / t_full:.1f}x faster, identical: {same}"
        print(line)

        # ---- pytracking-layout protocols: batched vs per-file parse (no reference installed)
        print(f"\n{'protocol (pytracking files)':<30}{'batched [s]':>18}{'per-file [s]':>19}{'ratio':>8}"
              f"{'identical':>11}   summary")
        for p in PYTRACKING_PROTOCOLS:
            r, t, c = timed(lambda: evaluate(split, pyt_res, p), args.repeat)
            line = f"  {p:<28}{t:>9.3f} ({c:6.3f})"
            if not args.no_per_file:
                with per_file_only():
                    r_old, t_old, c_old = timed(lambda: evaluate(split, pyt_res, p), args.repeat)
                same = same_summary(r_old.summary, r.summary)
                line += f"{t_old:>10.3f} ({c_old:6.3f}){t_old / t:>7.1f}x{str(same):>11}"
            s = ", ".join(f"{k}={v:.4f}" for k, v in r.summary.items() if v is not None)
            print(f"{line}   {s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
