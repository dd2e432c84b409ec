"""``trackkit eval``: score one tracker's result folder under a benchmark protocol."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

HELP = "score a result folder under a benchmark protocol"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from trackkit.eval.protocols import PROTOCOL_VARIANTS, PROTOCOLS

    p.add_argument("--dataset", required=True, type=Path,
                   help="a split folder (holding list.txt) or a dataset root")
    p.add_argument("--split", default=None,
                   help="the dataset split to score (default: the protocol's own: LaSOT's test split, "
                        "testing_set.txt, for lasot and lasot-official; otherwise the reader's); "
                        "'all' scores every sequence under the root")
    p.add_argument("--results", required=True, type=Path, nargs="+",
                   help="one tracker's result folder (got10k or pytracking layout, autodetected; a "
                        "pytracking tracker folder holding <param>_000, <param>_001 ... is read as runs), "
                        "or several pytracking run folders")
    p.add_argument("--protocol", default="got10k", choices=[*PROTOCOLS, *PROTOCOL_VARIANTS],
                   help="scoring rules (default got10k); <dataset>-wh: the pytracking rules before 2022-08 "
                        "(gt valid when w, h > 0; OSTrack's copy)")
    p.add_argument("--layout", choices=["got10k", "pytracking"], default=None, help="result layout (default: detect)")
    p.add_argument("--per-sequence", action="store_true", help="also print the per-sequence table")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="add N-replicate bootstrap 95%% intervals over sequences (and runs)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _load_dataset(path: Path, split: str | None = None, protocol=None):
    """The dataset at ``path``; without ``split``, a LaSOT root is read as the split its
    protocol scores (``protocol.default_split``: the 280-sequence test split), not whole.
    Frame files are not checked: scoring reads annotations only."""
    from trackkit.data.readers import detect_layout, load_dataset
    from trackkit.data.readers.lasot import SPLIT_FILES
    from trackkit.errors import DataError

    if split == "all":
        return load_dataset(path, split=None, check_frames=False)
    if split is None and protocol is not None and protocol.default_split and detect_layout(path) == "lasot":
        split = protocol.default_split
        listing = Path(path) / SPLIT_FILES[split]
        if not listing.is_file():
            raise DataError(listing, f"file is missing: protocol {protocol.name} scores the LaSOT {split} split "
                            "listed there; pass --split all to score every sequence under the root")
    return load_dataset(path, split=split, check_frames=False)


def run(args) -> int:
    from trackkit.eval.api import evaluate
    from trackkit.eval.protocols import get_protocol
    from trackkit.eval.results import read_results

    proto = get_protocol(args.protocol)
    dataset = _load_dataset(args.dataset, args.split, proto)
    results = read_results(args.results, layout=args.layout, allow_nan=proto.allow_nan_results)
    res = evaluate(dataset, results, proto)
    summary = {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else v)
               for k, v in res.summary.items()}
    if args.json:
        out = {"protocol": res.protocol, "sequences": len(res.per_sequence), **summary}
        if args.bootstrap:
            ci = res.bootstrap(args.bootstrap, seed=args.seed)
            out["ci95"] = {m: [row.lo, row.hi] for m, row in ci.iterrows()}
        print(json.dumps(out, indent=2))
        return 0
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.width", 160, "display.float_format", "{:.4f}".format):
        if args.per_sequence:
            print(res.per_sequence.to_string())
            print()
        print(f"protocol {res.protocol}: {len(res.per_sequence)} sequences, results "
              f"{' '.join(str(r) for r in args.results)}")
        print(pd.Series(summary, dtype=object).to_string())
        if args.bootstrap:
            print()
            print(res.bootstrap(args.bootstrap, seed=args.seed).to_string())
    return 0
