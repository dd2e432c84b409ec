"""``trackkit baselines [--dataset DIR] --out RESULTS``: run the two trivial trackers and score
them under the got10k and otb protocols.

The ground-truth tracker pins the ceiling of each protocol (AO 1.0 under got10k; success AUC
20/21 = 0.952 under pytracking's otb rules, whose 21 thresholds include a strict IoU > 1),
the initial-box tracker the floor. Without ``--dataset`` a small procedural test split is
generated first into ``--cache`` (reused on later runs).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

HELP = "run and score the trivial baseline trackers"
PROTOCOLS = ("got10k", "otb")


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trackkit" / "baselines-synth"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", type=Path, default=None,
                   help="dataset root or split folder (default: a procedural test split in --cache)")
    p.add_argument("--out", required=True, type=Path, help="results root (one folder per baseline)")
    p.add_argument("--layout", choices=["got10k", "pytracking"], default="got10k")
    g = p.add_argument_group("procedural split (when --dataset is omitted)")
    g.add_argument("--cache", type=Path, default=None, help=f"where to generate it (default {default_cache()})")
    g.add_argument("--sequences", type=int, default=8)
    g.add_argument("--frames", type=int, default=50)
    g.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")


def score_baselines(dataset, out: Path, layout: str = "got10k", progress: bool = True,
                    protocols=PROTOCOLS):
    """Run both baselines over ``dataset`` into ``out`` and return a pandas table: one row per
    (tracker, protocol), one column per metric."""
    import pandas as pd

    from trackkit.eval.api import evaluate
    from trackkit.track.baselines import BASELINES
    from trackkit.track.runner import run_tracker

    rows = []
    for name, cls in BASELINES.items():
        s = run_tracker(cls(), dataset, out, name=name, layout=layout, progress=progress)
        for proto in protocols:
            r = evaluate(dataset, s.folder, proto)
            rows.append({"tracker": name, "protocol": proto, **r.summary})
    cols = ["tracker", "protocol", "ao", "sr50", "sr75", "auc", "prec", "norm_prec"]
    df = pd.DataFrame(rows)
    return df.reindex(columns=[c for c in cols if c in df.columns]).set_index(["tracker", "protocol"])


def run(args) -> int:
    import pandas as pd

    from trackkit.data.readers import load_dataset

    path = args.dataset
    if path is None:
        from trackkit.data.synth import write_split

        cache = args.cache or default_cache()
        path = write_split(cache / f"s{args.sequences}-f{args.frames}-seed{args.seed}", "test", args.sequences,
                           args.frames, seed=args.seed, progress=not args.no_progress)
        print(f"procedural test split: {path}")
    dataset = load_dataset(path)
    table = score_baselines(dataset, args.out, args.layout, progress=not args.no_progress)
    with pd.option_context("display.width", 160, "display.float_format", "{:.4f}".format):
        print(table.dropna(axis=1, how="all").to_string())
    return 0
