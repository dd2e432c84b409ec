"""Run records: what a notebook saves, and what the runner keeps about each run.

Folder of one run (``<out>/<study>/runs/<key>/``)::

    record.json      the runner's record: params, status, error, timings, metrics, versions
    notebook.ipynb   the executed notebook
    data/            the notebook's ``record_dir``: metrics.json, <table>.parquet, anything else

Notebook side (import-light: no papermill, no torch)::

    from trackkit.study import record, record_table
    record(record_dir, auc=0.61, fps=35.2)           # scalars / small lists -> metrics.json
    record_table(record_dir, "sequences", per_seq)    # a tidy DataFrame -> sequences.parquet

With ``record_dir=None`` (the committed default, so the notebook runs under nbval or by
hand) both helpers write nothing and just return what they were given.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from trackkit.atomic import atomic_open, write_json

RECORD_FILE = "record.json"
NOTEBOOK_FILE = "notebook.ipynb"
DATA_DIR = "data"
METRICS_FILE = "metrics.json"
FINISHED = ("ok", "failed")

_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def record(record_dir: str | Path | None, **metrics) -> dict:
    """Merge ``metrics`` into ``record_dir/metrics.json`` (atomic); returns the merged dict.

    Values must be JSON-serialisable (numpy scalars/arrays are converted). Calling it several
    times adds keys; a repeated key takes the latest value.
    """
    if record_dir is None:
        return dict(metrics)
    path = Path(record_dir) / METRICS_FILE
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged.update(metrics)
    write_json(path, merged)
    return merged


def record_table(record_dir: str | Path | None, name: str, df) -> Path | None:
    """Write a tidy DataFrame to ``record_dir/<name>.parquet`` (atomic); None when not recording."""
    if not _TABLE_NAME.match(name):
        raise ValueError(f"table name {name!r}: use letters, digits, '_', '-', '.'")
    if record_dir is None:
        return None
    path = Path(record_dir) / f"{name}.parquet"
    with atomic_open(path, "wb") as fh:
        df.to_parquet(fh, index=False)
    return path


def read_record(run_dir: str | Path) -> dict | None:
    """The run's record, or None when it has none or it is unreadable (treated as unfinished)."""
    path = Path(run_dir) / RECORD_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def is_finished(rec: dict | None) -> bool:
    return rec is not None and rec.get("status") in FINISHED


def read_metrics(run_dir: str | Path) -> dict:
    path = Path(run_dir) / DATA_DIR / METRICS_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def list_tables(run_dir: str | Path) -> list[str]:
    return sorted(p.stem for p in (Path(run_dir) / DATA_DIR).glob("*.parquet"))


def read_table(run_dir: str | Path, name: str):
    import pandas as pd

    return pd.read_parquet(Path(run_dir) / DATA_DIR / f"{name}.parquet")


def manifest_path(out: str | Path, study: str, profile: str) -> Path:
    return Path(out) / study / f"{profile}.json"


def run_dir(out: str | Path, study: str, key: str) -> Path:
    return Path(out) / study / "runs" / key


def load_manifests(out: str | Path) -> list[dict]:
    """Every study manifest under ``out`` (``<study>/<profile>.json``), newest first."""
    found = []
    for p in Path(out).glob("*/*.json"):
        try:
            m = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(m, dict) and m.get("kind") == "trackkit-study-manifest":
            m["_path"] = str(p)
            m["_mtime"] = p.stat().st_mtime
            found.append(m)
    return sorted(found, key=lambda m: -m["_mtime"])
