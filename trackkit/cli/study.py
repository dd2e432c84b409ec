"""``trackkit study run|check|list STUDY.yaml``: execute, validate or list a study grid."""
from __future__ import annotations

import argparse
import json

HELP = "run a study grid of parameterized notebooks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="execute every unfinished run of the grid")
    check = sub.add_parser("check", help="validate the study file against its notebook, every profile")
    ls = sub.add_parser("list", help="list the runs of a profile and their status")
    run.add_argument("study", nargs="+", help="study file(s) (YAML); several share one pool of workers, queued in "
                                              "the order given")
    for p in (check, ls):
        p.add_argument("study", help="study file (YAML)")
    for p in (run, ls):
        p.add_argument("--profile", default=None, help="profile (default: the study's default_profile)")
        p.add_argument("--out", default="runs/studies", help="records folder (default: runs/studies)")
    run.add_argument("--workers", type=int, default=1, help="parallel runs (default 1)")
    run.add_argument("--executor", choices=("local", "submitit"), default="local")
    run.add_argument("--cluster", choices=("local", "debug", "slurm"), default="local",
                     help="submitit cluster (default local; slurm = AutoExecutor's detection)")
    run.add_argument("--force", action="store_true", help="rerun finished runs too")
    run.add_argument("--retry-failed", action="store_true", help="rerun failed runs")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from trackkit.study.spec import load_study

    if args.action == "run":
        return _run(args)
    study = load_study(args.study)
    if args.action == "check":
        for name in study.profiles:
            n = len(study.runs(name))
            print(f"{study.name}[{name}]: {n} run{'s' * (n != 1)}")
        return 0
    from trackkit.study.records import is_finished, read_record
    from trackkit.study.runner import plan

    for t in plan(study, args.profile, args.out):  # list
        rec = read_record(t.run_dir)
        status = rec["status"] if rec else "todo"
        status = status if is_finished(rec) or rec is None else f"{status} (unfinished)"
        print(f"{t.key}  {status:<10}  {json.dumps(t.params, sort_keys=True)}")
    return 0


def _run(args) -> int:
    from trackkit.study.runner import run_studies
    from trackkit.study.spec import load_study

    studies = [load_study(path) for path in args.study]  # every file validated before anything runs
    results = run_studies(studies, profile=args.profile, out=args.out, workers=args.workers,
                          executor=args.executor, cluster=args.cluster, force=args.force,
                          retry_failed=args.retry_failed, progress=not args.no_progress)
    status = 0
    for result in results:
        n = len(result.records)
        print(f"{result.study}[{result.profile}]: {n} runs, {result.executed} executed, "
              f"{result.cached} cached, {len(result.failed)} failed -> {result.out / result.study}")
        for rec in result.failed:
            err = (rec.get("error") or {}).get("message", "no record")
            print(f"  FAILED {rec['key']} {json.dumps(rec['params'], sort_keys=True)}: {err}")
        status |= int(bool(result.failed))
    return status
