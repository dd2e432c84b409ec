"""Candidate elimination vs none: model-only latency, side by side in one run.

For each preset with CE, the same weights run with CE and without (the '-noce' twin), batch 1,
after warm-up; the two models alternate pass by pass (order swapped every round) so load
from other processes on the machine hits both alike. Prints median latencies and the
speed-up (no-CE / CE). A figure comparing trackkit with the official code must come from
one run that measured both: use ``--official`` below.

    .venv/bin/python benchmarks/bench_ce.py                      # B/256 and the CPU preset
    .venv/bin/python benchmarks/bench_ce.py --runs 50 --threads 2 --presets ostrack-b384

With ``--official PATH`` (a local checkout of botaoye/OSTrack; its code is imported from
there, never part of trackkit; it needs easydict and PyYAML), the official network with and
without CE (its ``vitb_*_mae[_ce]_32x4_ep300`` experiment configs) runs in the same process,
on the same random weights converted into trackkit's models, interleaved with them: one
run gives trackkit-vs-official latency as well as each one's CE speed-up. Paper-scale presets
only (ostrack-b256, ostrack-b384).
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
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


def timed_interleaved(models: dict, inputs: dict, runs: int, warmup: int, desc: str) -> dict:
    """Median ms per model; every round runs each model once, the order rotated each round so
    load from other processes hits all alike."""
    keys = list(models)
    times = {k: [] for k in keys}
    with torch.inference_mode():
        for _ in range(warmup):
            for k in keys:
                models[k](*inputs[k])
        for r in tqdm(range(runs), desc=desc, leave=False):
            for k in keys[r % len(keys):] + keys[:r % len(keys)]:
                times[k].append(one_pass(models[k], inputs[k]))
    return {k: statistics.median(v) for k, v in times.items()}


def bench_pair(name: str, runs: int, warmup: int) -> dict:
    ce_preset = get_preset(name)
    noce_preset = get_preset(ce_preset.name + "-noce")
    torch.manual_seed(0)
    ce = build_model(ce_preset, load_pretrained_weights=False).eval()
    noce = build_model(noce_preset, load_pretrained_weights=False).eval()
    noce.load_state_dict(ce.state_dict())  # identical weights: only the elimination differs
    inputs = example_inputs(ce_preset)
    ms = timed_interleaved({"ce": ce, "noce": noce}, {"ce": inputs, "noce": inputs}, runs, warmup, name)
    with torch.inference_mode():
        tokens = [k.shape[1] for k in ce(*inputs)["keep_indices"]]
    ce_ms, noce_ms = ms["ce"], ms["noce"]
    return {"preset": name, "search tokens": "->".join(map(str, [ce_preset.model.feat_size ** 2] + tokens)),
            "CE ms": round(ce_ms, 2), "no-CE ms": round(noce_ms, 2),
            "speed-up": round(noce_ms / ce_ms, 3), "runs": runs, "warmup": warmup}


OFFICIAL_CONFIGS = {  # preset -> (CE, no-CE) experiment files of the official repository
    "ostrack-b256": ("vitb_256_mae_ce_32x4_ep300", "vitb_256_mae_32x4_ep300"),
    "ostrack-b384": ("vitb_384_mae_ce_32x4_ep300", "vitb_384_mae_32x4_ep300"),
}


def official_networks(checkout: str, name: str):
    """botaoye/OSTrack's own networks (CE, no CE; same random weights) and its tracker's CE
    template mask, imported from a local checkout."""
    if name not in OFFICIAL_CONFIGS:
        raise SystemExit(f"--official: no official config for preset {name!r}; use one of "
                         f"{', '.join(OFFICIAL_CONFIGS)}")
    sys.path.insert(0, checkout)
    try:
        from lib.config.ostrack.config import cfg as default_cfg
        from lib.config.ostrack.config import update_config_from_file
        from lib.models.ostrack import build_ostrack
        from lib.utils.ce_utils import generate_mask_cond
    except ImportError as e:
        raise SystemExit(f"--official {checkout}: cannot import the official OSTrack code ({e}); "
                         "it needs easydict and PyYAML in this environment") from None
    nets, cfgs = [], []
    for exp in OFFICIAL_CONFIGS[name]:
        cfg = copy.deepcopy(default_cfg)
        update_config_from_file(os.path.join(checkout, "experiments", "ostrack", exp + ".yaml"), base_cfg=cfg)
        torch.manual_seed(0)
        nets.append(build_ostrack(cfg, training=False).eval())
        cfgs.append(cfg)
    nets[1].load_state_dict(nets[0].state_dict())
    mask = generate_mask_cond(cfgs[0], 1, "cpu", torch.tensor([[0.25, 0.25, 0.5, 0.5]]))
    return nets[0], nets[1], mask


def bench_official(name: str, checkout: str, runs: int, warmup: int) -> list[dict]:
    """Official CE / no-CE and trackkit CE / no-CE on the same weights, interleaved."""
    from trackkit.families.ostrack import convert_ostrack

    off_ce, off_noce, mask = official_networks(checkout, name)
    ce_preset = get_preset(name)
    noce_preset = get_preset(name + "-noce")
    sd = off_ce.state_dict()
    models = {"official CE": off_ce, "official no-CE": off_noce,
              "trackkit CE": convert_ostrack({"net": sd}, ce_preset)[0],
              "trackkit no-CE": convert_ostrack({"net": sd}, noce_preset)[0]}
    z, x = example_inputs(ce_preset)[:2]
    official_forward = {"official CE": lambda m: (lambda a, b: m(a, b, ce_template_mask=mask)),
                        "official no-CE": lambda m: m}
    runners = {k: official_forward.get(k, lambda m: m)(m) for k, m in models.items()}
    inputs = {k: (z, x) for k in models}
    with torch.inference_mode():  # same weights, same maps: the comparison is like for like
        agree = {ce: (runners[f"official {ce}"](z, x)["score_map"]
                      - runners[f"trackkit {ce}"](z, x)["score_map"]).abs().max().item()
                 for ce in ("CE", "no-CE")}
    ms = timed_interleaved(runners, inputs, runs, warmup, name + " vs official")
    rows = []
    for impl in ("official", "trackkit"):
        ce_ms, noce_ms = ms[f"{impl} CE"], ms[f"{impl} no-CE"]
        rows.append({"preset": name, "network": impl, "CE ms": round(ce_ms, 2),
                     "no-CE ms": round(noce_ms, 2), "CE speed-up": round(noce_ms / ce_ms, 3),
                     "max |score map - official| (CE / no-CE)": "-" if impl == "official"
                     else f"{agree['CE']:.1e} / {agree['no-CE']:.1e}"})
    rows.append({"preset": name, "network": "trackkit / official",
                 **{k: round(rows[1][k] / rows[0][k], 3) for k in ("CE ms", "no-CE ms")},
                 "CE speed-up": "", "max |score map - official| (CE / no-CE)": ""})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["ostrack-b256", "ostrack-cpu"])
    ap.add_argument("--runs", type=int, default=30, help="timed passes per model (median)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--official", metavar="PATH",
                    help="a local botaoye/OSTrack checkout: time its networks against trackkit's")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.official:
        rows = [r for n in args.presets if n != "ostrack-cpu"
                for r in bench_official(n, args.official, args.runs, args.warmup)]
    else:
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
