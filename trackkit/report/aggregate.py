"""Study records -> tidy tables with bootstrap confidence intervals.

Tables (one row per observation, pandas):
- ``runs``: one row per run: study, profile, key, status, error, duration_s, the run's
  parameters (columns ``p.<name>``) and scalar metrics (``m.<name>``).
- ``units``: one row per (run, unit, metric): the values a confidence interval resamples.
  A unit is a sequence when the run recorded a per-sequence table (``report.per_sequence``
  names it, default ``sequences``), else the run itself (seeds are then the units).
- ``summary``: one row per (grid point without the seed, metric): mean, ci_lo, ci_hi, n,
  unit.

Confidence intervals are percentile bootstraps of the mean (resampling units with
replacement through ``trackkit.eval.bootstrap``, fixed generator seed, so the same records
give the same numbers).
"""
from __future__ import annotations

import math
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import pandas as pd

from trackkit.eval.bootstrap import bootstrap_ratio
from trackkit.eval.paired import percentile_interval
from trackkit.study.records import load_manifests, read_record, read_table, run_dir

PARAM, METRIC = "p.", "m."


def mean_ci(values, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(mean, lo, hi): percentile bootstrap CI of the mean of the finite ``values``; one value
    gives lo = hi = mean, none gives NaNs. The resampling is ``trackkit.eval``'s: a mean is the
    ratio sum(values) / sum(1), resampled with multinomial unit weights (``bootstrap_ratio``)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (math.nan, math.nan, math.nan)
    if x.size == 1:
        return (float(x[0]),) * 3
    parts = np.stack([x, np.ones_like(x)], axis=-1)[:, None, :]  # (units, 1 run, (num, den))
    lo, hi = percentile_interval(bootstrap_ratio(parts, n_boot=n_boot, seed=seed, over_runs=False), level)
    return float(x.mean()), lo, hi


def select_manifests(studies_dir: str | Path, profile: str | None = None) -> list[dict]:
    """One manifest per study: the given profile, else the most recently run one."""
    chosen: dict[str, dict] = {}
    for m in load_manifests(studies_dir):  # newest first
        if profile is not None and m["profile"] != profile:
            continue
        chosen.setdefault(m["study"], m)
    return [chosen[k] for k in sorted(chosen)]


def _is_scalar(v) -> bool:
    """A metric the tables keep: a number or a text, but not an absolute path (a folder on the
    machine that ran the study means nothing in a committed report)."""
    if isinstance(v, str):
        return not (PurePosixPath(v).is_absolute() or PureWindowsPath(v).is_absolute())
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def param_value(v):
    """A parameter as a table cell: lists and mappings (e.g. ``ce_loc: [1, 2]``) become their
    JSON text, so rows can be grouped and matched on them."""
    import json

    return json.dumps(v) if isinstance(v, (list, tuple, dict)) else v


def runs_table(manifest: dict, studies_dir: str | Path) -> pd.DataFrame:
    rows = []
    for run in manifest["runs"]:
        rec = read_record(run_dir(studies_dir, manifest["study"], run["key"])) or {}
        row = {"study": manifest["study"], "profile": manifest["profile"], "key": run["key"],
               "status": rec.get("status", "missing"), "error": (rec.get("error") or {}).get("message"),
               "duration_s": rec.get("duration_s")}
        row.update({PARAM + k: param_value(v) for k, v in run["params"].items()})
        row.update({METRIC + k: v for k, v in (rec.get("metrics") or {}).items() if _is_scalar(v)})
        rows.append(row)
    return pd.DataFrame(rows)


def units_table(manifest: dict, runs: pd.DataFrame, studies_dir: str | Path) -> pd.DataFrame:
    """Long table of the values CIs resample: per-sequence rows where recorded, else per run."""
    cfg = manifest.get("report") or {}
    metrics = list((cfg.get("metrics") or {}).keys()) or [
        c[len(METRIC):] for c in runs if c.startswith(METRIC) and pd.api.types.is_numeric_dtype(runs[c])]
    table = cfg.get("per_sequence", "sequences")
    unit_col = cfg.get("unit_column", "sequence")
    frames = []
    pcols = [c for c in runs if c.startswith(PARAM)]
    for _, run in runs[runs.status == "ok"].iterrows():
        folder = run_dir(studies_dir, manifest["study"], run["key"])
        per_seq = None
        if (folder / "data" / f"{table}.parquet").exists():
            per_seq = read_table(folder, table)
        for metric in metrics:
            if per_seq is not None and metric in per_seq and unit_col in per_seq:
                df = pd.DataFrame({"unit": per_seq[unit_col].astype(str), "value": per_seq[metric].astype(float)})
                kind = unit_col
            elif METRIC + metric in run and pd.notna(run[METRIC + metric]):
                df = pd.DataFrame({"unit": [run["key"]], "value": [float(run[METRIC + metric])]})
                kind = "run"
            else:
                continue
            df["metric"], df["unit_kind"], df["key"] = metric, kind, run["key"]
            for c in pcols:
                df[c] = run[c]
            frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["key", "metric", "unit", "unit_kind", "value", *pcols])
    return pd.concat(frames, ignore_index=True)


def index_columns(manifest: dict, runs: pd.DataFrame) -> list[str]:
    """The parameters that identify a row: ``report.index``, else every varying non-seed param."""
    cfg = manifest.get("report") or {}
    if cfg.get("index"):
        return [PARAM + c for c in cfg["index"]]
    cols = [c for c in runs if c.startswith(PARAM) and c != PARAM + "seed"]
    varying = [c for c in cols if runs[c].astype(str).nunique() > 1]
    return varying or cols[:1]


def summary_table(units: pd.DataFrame, index: list[str], n_boot: int = 2000, level: float = 0.95) -> pd.DataFrame:
    rows = []
    if units.empty:
        return pd.DataFrame(columns=[*index, "metric", "mean", "ci_lo", "ci_hi", "n", "unit"])
    for keys, g in units.groupby(index + ["metric"], sort=False, dropna=False):
        mean, lo, hi = mean_ci(g["value"], n_boot=n_boot, level=level)
        rows.append({**dict(zip(index + ["metric"], keys)), "mean": mean, "ci_lo": lo, "ci_hi": hi,
                     "n": int(g["value"].notna().sum()), "unit": "/".join(sorted(g["unit_kind"].unique()))})
    return pd.DataFrame(rows)


def aggregate(studies_dir: str | Path, profile: str | None = None) -> list[dict]:
    """Per study: {manifest, runs, units, summary, index} for the chosen manifest."""
    out = []
    for m in select_manifests(studies_dir, profile):
        runs = runs_table(m, studies_dir)
        units = units_table(m, runs, studies_dir)
        index = index_columns(m, runs)
        index = [c for c in index if c in units] if not units.empty else index
        out.append({"manifest": m, "runs": runs, "units": units, "index": index,
                    "summary": summary_table(units, index)})
    return out


def wide_summary(summary: pd.DataFrame, index: list[str], labels: dict | None = None, digits: int = 2) -> pd.DataFrame:
    """One row per grid point, one column per metric: ``mean [lo, hi]`` (plain mean when n=1)."""
    if summary.empty:
        return pd.DataFrame()

    def cell(r):
        if r["n"] <= 1 or r["ci_lo"] == r["ci_hi"]:
            return f"{r['mean']:.{digits}f}"
        return f"{r['mean']:.{digits}f} [{r['ci_lo']:.{digits}f}, {r['ci_hi']:.{digits}f}]"

    s = summary.assign(cell=summary.apply(cell, axis=1))
    wide = s.pivot_table(index=index, columns="metric", values="cell", aggfunc="first", sort=False)
    wide = wide[[m for m in s["metric"].unique() if m in wide]]
    wide.columns.name = None
    wide = wide.reset_index().rename(columns={c: c[len(PARAM):] for c in index})
    return wide.rename(columns=labels or {})
