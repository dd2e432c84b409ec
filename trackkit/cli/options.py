"""Options every preset-taking subcommand spells the same way."""
from __future__ import annotations

import argparse


def add_overrides(p: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable): the one override syntax of the command line."""
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset field, e.g. train.epochs=3, model.ce_keep_ratio=0.6 or "
                        "track.hanning=false (repeatable)")
