"""The ``trackkit`` command line.

Each subcommand lives in its own module under ``trackkit.cli`` with ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when their
command runs, so ``trackkit --help`` stays fast and does not import torch.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from trackkit.errors import TrackkitError

# command name -> (module, one-line help). Help strings live here so `--help` imports nothing.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("trackkit.cli.synth", "generate the procedural benchmark in GOT-10k layout"),
    "eval": ("trackkit.cli.eval", "score a result folder under a benchmark protocol"),
    "baselines": ("trackkit.cli.baselines", "run and score the trivial baseline trackers"),
    "presets": ("trackkit.cli.presets", "list the named model presets"),
    "profile": ("trackkit.cli.profile", "parameters, MACs, FLOPs and latency of a preset"),
    "convert": ("trackkit.cli.convert", "convert an official checkpoint into a trackkit model"),
    "track": ("trackkit.cli.track", "run a tracker over a dataset and write result files"),
    "train": ("trackkit.cli.train", "train a preset"),
    "pretrain": ("trackkit.cli.pretrain", "masked-autoencoder pretraining of a preset's ViT"),
    "study": ("trackkit.cli.study", "run a study grid of parameterized notebooks"),
    "report": ("trackkit.cli.report", "compile study records into tables, figures and HTML"),
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trackkit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = None
    if argv:
        wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name == wanted:  # only the chosen command's module is imported
            mod = importlib.import_module(module)
            mod.add_arguments(p)
            p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.version:
        from trackkit import __version__

        print(__version__)
        return 0
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except TrackkitError as e:
        print(f"trackkit {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
