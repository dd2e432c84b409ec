"""Sequence decoding speed: one-pass vs auto-regressive at equal depth, early exit vs full depth.

All variants of one scale are timed side by side in one run, interleaved pass by pass
(:func:`trackkit.profiling.compare_latency`: order reversed every round), batch 1, model only
(random crops already in memory, no cropping or map-back), random weights:

- ``ar``        SeqTrack's decoding: 4 steps, each re-running the whole prefix (causal mask)
- ``ar_cache``  the same with a KV cache (one new position per step)
- ``one_pass``  FastSeqTrack's decoder, the 4 queries in one mask-free pass, read after the last layer
- ``exit_full`` one-pass with shared exits read before the first layer and after every layer, tau=+inf
- ``exit_0``    the same network stopping at the first exit (tau=-inf): no decoder layer runs
  (with trained weights and tau between, the depth is per frame; this is the bound)

Each is timed twice: the decoder alone on cached encoder features, and end to end (encoder +
decoder). The ratios are what the paper's claims are about (FastSeqTrack vs SeqTrack: ~2x end to
end on a GPU; 58 vs 125 fps). Paper scale = the b256 presets (ViT-B/16, 2 x 256 px templates,
256 px search, 2 decoder layers, 4000 bins); CPU scale = the -cpu presets.

    .venv/bin/python benchmarks/bench_seqdecode.py                 # both scales
    .venv/bin/python benchmarks/bench_seqdecode.py --scale cpu --runs 200 --threads 2
"""
from __future__ import annotations

import argparse
import math

import pandas as pd
import torch

from trackkit.families import build_model, get_preset
from trackkit.models.seqdecoder import hanning_window
from trackkit.profiling import compare_latency

VARIANTS = {  # name -> (preset family part, overrides)
    "ar": ("seqtrack", ["model.kv_cache=false"]),
    "ar_cache": ("seqtrack", ["model.kv_cache=true"]),
    "one_pass": ("fastseqtrack", ["model.exits=last"]),
    "exit_full": ("fastseqtrack", ["model.tau=inf"]),
    "exit_0": ("fastseqtrack", ["model.tau=-inf"]),
}
RATIOS = [("ar", "one_pass", "one-pass vs auto-regressive (no cache, SeqTrack's)"),
          ("ar_cache", "one_pass", "one-pass vs auto-regressive (KV cache)"),
          ("ar", "ar_cache", "KV cache vs none"),
          ("exit_full", "exit_0", "exit at the first exit vs full depth"),
          ("one_pass", "exit_full", "reading every exit vs the last only (full depth)")]


def bench_scale(suffix: str, runs: int, warmup: int, device: str) -> pd.DataFrame:
    torch.manual_seed(0)
    nets, calls_dec, calls_e2e = {}, {}, {}
    for name, (family, overrides) in VARIANTS.items():
        preset = get_preset(f"{family}-{suffix}", overrides)
        m = preset.model
        net = build_model(preset, load_pretrained_weights=False).eval().to(device)
        g = torch.Generator().manual_seed(0)
        z = torch.randn(1, m.num_templates, 3, m.template_size, m.template_size, generator=g).to(device)
        x = torch.randn(1, 3, m.search_size, m.search_size, generator=g).to(device)
        window = hanning_window(m.bins).to(device)
        with torch.inference_mode():
            enc = net.encode(z, x)
        nets[name] = net
        calls_dec[name] = (lambda net=net, enc=enc, w=window: net.decode(enc, w))
        calls_e2e[name] = (lambda net=net, z=z, x=x, w=window: net.track(z, x, w))
    dec = compare_latency(calls_dec, (), warmup=warmup, runs=runs)
    e2e = compare_latency(calls_e2e, (), warmup=max(1, warmup // 2), runs=max(5, runs // 4))
    rows = []
    for slow, fast, what in RATIOS:
        rows.append({"scale": suffix, "comparison": what, "slow": slow, "fast": fast,
                     "decoder_ms": f"{dec[slow]['median']:.2f} / {dec[fast]['median']:.2f}",
                     "decoder_speedup": dec[slow]["median"] / dec[fast]["median"],
                     "end_to_end_ms": f"{e2e[slow]['median']:.1f} / {e2e[fast]['median']:.1f}",
                     "end_to_end_speedup": e2e[slow]["median"] / e2e[fast]["median"]})
    return pd.DataFrame(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", choices=["cpu", "paper", "both"], default="both")
    ap.add_argument("--runs", type=int, default=100, help="timed decoder passes per variant (end to end: a quarter)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    scales = {"cpu": ["cpu"], "paper": ["b256"], "both": ["cpu", "b256"]}[args.scale]
    table = pd.concat([bench_scale(s, args.runs, args.warmup, args.device) for s in scales])
    print(f"torch threads {torch.get_num_threads()}, device {args.device}; ms = median slow / fast")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.2f}".format):
        print(table.to_string(index=False))
    assert all(math.isfinite(v) for v in table["decoder_speedup"])
    return table


if __name__ == "__main__":
    main()
