"""Dataset reader speed, measured side by side in one run.

1. Annotation parsing: ``read_table`` (one vectorized numpy.loadtxt + vectorized checks)
   against a plain line-by-line Python parse of the same file (what a naive reader does).
2. ``load_dataset`` on a GOT-10k-val-sized folder (180 sequences) with and without the
   per-sequence frame count (``check_frames``).

Run: .venv/bin/python benchmarks/bench_readers.py [--rows 20000] [--seqs 180 --frames 100]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from dataset_fixtures import format_boxes, write_got10k  # noqa: E402

from trackkit.data.readers import load_dataset  # noqa: E402
from trackkit.data.readers.common import read_table  # noqa: E402


def naive_parse(path: Path) -> np.ndarray:
    rows = []
    for ln in path.read_text().splitlines():
        if ln.strip():
            vals = [float(t) for t in ln.split(",")]
            if len(vals) != 4 or any(v != v for v in vals) or vals[2] < 0 or vals[3] < 0:
                raise ValueError(ln)
            rows.append(vals)
    return np.array(rows, dtype=np.float64)


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--seqs", type=int, default=180)
    ap.add_argument("--frames", type=int, default=100)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        gt = tmp / "groundtruth.txt"
        boxes = np.round(rng.uniform(1, 500, size=(args.rows, 4)), 3)
        gt.write_text(format_boxes(boxes))
        assert np.array_equal(read_table(gt), naive_parse(gt))
        t_fast, t_naive = best_of(lambda: read_table(gt)), best_of(lambda: naive_parse(gt))
        print(f"parse {args.rows} rows: read_table {t_fast * 1e3:.1f} ms, line-by-line {t_naive * 1e3:.1f} ms, "
              f"speedup x{t_naive / t_fast:.2f}")

        write_got10k(tmp / "got", "val", n_seqs=args.seqs, n_frames=args.frames)
        t_check = best_of(lambda: load_dataset(tmp / "got" / "val"), 3)
        t_nocheck = best_of(lambda: load_dataset(tmp / "got" / "val", check_frames=False), 3)
        print(f"load GOT-10k val-sized ({args.seqs} seqs x {args.frames} frames): "
              f"{t_check * 1e3:.0f} ms with frame count, {t_nocheck * 1e3:.0f} ms without, "
              f"ratio x{t_check / t_nocheck:.2f}")


if __name__ == "__main__":
    main()
