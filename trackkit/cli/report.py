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
    parser.add_argument("--readme", default=None, metavar="README",
                        help="also rewrite README's generated 'Measured' block from the report's tables")
    parser.add_argument("--readme-only", action="store_true",
                        help="only rewrite --readme from the tables already in --out (no recompile)")


def run(args) -> int:
    from trackkit.errors import ConfigError
    from trackkit.report.compile import compile_report
    from trackkit.report.measured import update_readme

    if args.readme_only and not args.readme:
        raise ConfigError("--readme-only needs --readme README")
    if not args.readme_only:
        # the report only reads study records: preset costs and all-protocol scores are recorded by
        # studies (studies/preset_costs.yaml, the ECE study's protocols table)
        index = compile_report(args.studies, args.out, profile=args.profile, notebooks=not args.no_notebooks)
        print(f"wrote {index} and {index.parent / 'summary.md'}")
    if args.readme:
        changed = update_readme(args.readme, args.out)
        print(f"{args.readme}: measured block {'rewritten' if changed else 'unchanged'}")
    return 0
