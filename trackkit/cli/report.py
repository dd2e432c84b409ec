"""``trackkit report``: compile study records into tables, figures, index.html and summary.md."""
from __future__ import annotations

import argparse

HELP = "compile study records into tables, figures and HTML"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--studies", default="runs/studies", help="study records folder (default: runs/studies)")
    parser.add_argument("--out", default="reports", help="output folder (default: reports)")
    parser.add_argument("--profile", default=None,
                        help="report this profile of every study (default: each study's latest run)")
    parser.add_argument("--no-cost", action="store_true", help="skip profiling every preset")
    parser.add_argument("--cost-latency-max-gmacs", type=float, default=None, metavar="G",
                        help="time only presets up to G GMACs in the cost table (default: time every preset)")
    parser.add_argument("--no-notebooks", action="store_true", help="skip converting executed notebooks to HTML")
    parser.add_argument("--protocols-results", default=None, help="a results folder to score under every protocol")
    parser.add_argument("--protocols-dataset", default=None, help="the dataset those results are for")


def run(args) -> int:
    from trackkit.report.compile import compile_report

    index = compile_report(args.studies, args.out, profile=args.profile, cost=not args.no_cost,
                           notebooks=not args.no_notebooks, protocols_results=args.protocols_results,
                           protocols_dataset=args.protocols_dataset,
                           cost_latency_max_gmacs=args.cost_latency_max_gmacs)
    print(f"wrote {index} and {index.parent / 'summary.md'}")
    return 0
