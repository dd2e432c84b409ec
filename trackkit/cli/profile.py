"""trackkit profile --preset P [--json]: parameters, MACs, FLOPs, model-only latency."""
from __future__ import annotations

from trackkit.cli.options import add_overrides

HELP = "parameters, MACs, FLOPs and latency of a preset"


def add_arguments(p) -> None:
    p.add_argument("--preset", required=True)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-latency", action="store_true", help="skip the timing")
    p.add_argument("--warmup", type=int, default=10, help="untimed forward passes (default 10)")
    p.add_argument("--runs", type=int, default=50, help="timed forward passes (default 50)")
    p.add_argument("--threads", type=int, default=None, help="torch threads for the timing")
    add_overrides(p)


def run(args) -> int:
    from trackkit.families import profile_preset

    r = profile_preset(args.preset, args.overrides, latency=not args.no_latency,
                       warmup=args.warmup, runs=args.runs, threads=args.threads)
    if args.json:
        import json

        print(json.dumps(r, indent=2))
        return 0
    print(f"preset      {r['preset']}" + (f"  {' '.join(r['overrides'])}" if r["overrides"] else ""))
    print(f"params      {r['params'] / 1e6:.2f} M")
    print(f"MACs        {r['macs'] / 1e9:.2f} G   (legacy thop, leaf Conv/Linear/Norm, batch 1)")
    print(f"FLOPs       {r['flops'] / 1e9:.2f} G   (torch flop counter, all ops, math attention)")
    if r["latency_ms"] is not None:
        print(f"latency     {r['latency_ms']:.1f} ms  model-only, batch 1, median of {r['latency_runs']} "
              f"after {r['latency_warmup']} warm-up, {r['threads']} threads "
              f"(p10 {r['latency_p10_ms']:.1f}, p90 {r['latency_p90_ms']:.1f})")
    for part, figures in (r.get("parts") or {}).items():  # the family's own breakdown
        print(f"{part:<11} " + "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in figures.items()))
    return 0
