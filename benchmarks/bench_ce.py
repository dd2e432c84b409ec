"""Candidate elimination vs none: model-only latency, side by side in one run.

For each preset with CE, the same weights run with CE and without (the '-noce' twin), batch 1,
after warm-up; the two models alternate pass by pass (order swapped every round) so load
from other processes on the machine hits both alike. Prints median latencies and the
speed-up (no-CE / CE). The official OSTrack-B/256 ran 1.19x faster with CE on a 2-core CPU
(shared/reference/trackers.md).

    .venv/bin/python benchmarks/bench_ce.py                      # B/256 and the CPU preset
    .venv/bin/python benchmarks/bench_ce.py --runs 50 --threads 2 --presets ostrack-b384
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import pandas as pd
import torch
from tqdm import tqdm

from trackkit.families import build_model, get_preset
from trackkit.profiling import example_inputs


def one_pass(model, inputs) -> float:
    t = time.perf_counter()
    model(*inputs)
    return (time.perf_counter() - t) * 1e3


def bench_pair(name: str, runs: int, warmup: int) -> dict:
    ce_preset = get_preset(name)
    noce_preset = get_preset(ce_preset.name + "-noce")
    torch.manual_seed(0)
    ce = build_model(ce_preset, load_pretrained_weights=False).eval()
    noce = build_model(noce_preset, load_pretrained_weights=False).eval()
    noce.load_state_dict(ce.state_dict())  # identical weights: only the elimination differs
    inputs = example_inputs(ce_preset)
    times = {"ce": [], "noce": []}
    with torch.inference_mode():
        for _ in range(warmup):
            one_pass(ce, inputs)
            one_pass(noce, inputs)
        for r in tqdm(range(runs), desc=name, leave=False):
            order = (("ce", ce), ("noce", noce)) if r % 2 == 0 else (("noce", noce), ("ce", ce))
            for key, model in order:
                times[key].append(one_pass(model, inputs))
        tokens = [k.shape[1] for k in ce(*inputs)["keep_indices"]]
    ce_ms, noce_ms = statistics.median(times["ce"]), statistics.median(times["noce"])
    return {"preset": name, "search tokens": "->".join(map(str, [ce_preset.model.feat_size ** 2] + tokens)),
            "CE ms": round(ce_ms, 2), "no-CE ms": round(noce_ms, 2),
            "speed-up": round(noce_ms / ce_ms, 3), "runs": runs, "warmup": warmup}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["ostrack-b256", "ostrack-cpu"])
    ap.add_argument("--runs", type=int, default=30, help="timed passes per model (median)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [bench_pair(n, args.runs, args.warmup) for n in args.presets]
    df = pd.DataFrame(rows)
    print(f"model-only latency, batch 1, median of {args.runs} after {args.warmup} warm-up, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (others share them)")
    print(df.to_string(index=False))
    if args.json:
        from trackkit.atomic import write_json

        write_json(args.json, {"threads": torch.get_num_threads(), "rows": rows,
                               "loadavg": os.getloadavg()[0], "cpus": os.cpu_count()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
