"""Studies: papermill-executed notebook grids with resumable, cached run records.

Notebook side: ``record(record_dir, **metrics)`` and ``record_table(record_dir, name, df)``.
Runner side (imports papermill lazily): ``load_study``, ``run_study``, ``run_studies`` and ``plan``.
"""
from __future__ import annotations

from trackkit.study.records import read_record, read_table, record, record_table

__all__ = ["record", "record_table", "read_record", "read_table", "load_study", "run_study", "run_studies", "plan"]


def __getattr__(name):  # keep `from trackkit.study import record` light inside notebooks
    if name == "load_study":
        from trackkit.study.spec import load_study

        return load_study
    if name in ("run_study", "run_studies", "plan"):
        from trackkit.study import runner

        return getattr(runner, name)
    raise AttributeError(name)
