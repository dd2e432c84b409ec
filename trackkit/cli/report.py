"""``trackkit report``: compile study records into tables, figures, index.html and summary.md."""
from __future__ import annotations

import argparse

HELP = "compile study records into tables, figures and HTML"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--studies", default="runs/studies", help="study records folder (default: runs/studies)")
    parser.add_argument("--out", default="reports", help="output folder (default: reports)")
    parser.add_argument("--profile", default=None,
                        help="report this profile of every study (default: each study's latest run)")
    parser.add_argument("--no-notebooks", action="store_true", help="skip converting executed notebooks to HTML")


def run(args) -> int:
    from trackkit.report.compile import compile_report

    # the report only reads study records: preset costs and all-protocol scores are recorded by
    # studies (studies/preset_costs.yaml, the ECE study's protocols table)
    index = compile_report(args.studies, args.out, profile=args.profile, notebooks=not args.no_notebooks)
    print(f"wrote {index} and {index.parent / 'summary.md'}")
    return 0
