"""Hand a study's grid to submitit: one Slurm array job per study, or local/debug executors.

``AutoExecutor(folder, cluster=None)`` picks Slurm when it is available; ``cluster="local"``
runs jobs as local subprocesses and ``cluster="debug"`` runs them in this process (both work
anywhere, so this path is tested here). The study file's ``cluster:`` mapping is passed to
``update_parameters`` (``timeout_min``, ``gpus_per_node``, ``cpus_per_task``,
``slurm_partition``, ...). Each job runs ``execute(task)`` (the runner passes its
``execute_run``, which writes the run's record itself, so resuming works exactly as with the
local executor); a job that dies outside it is handed to ``on_crash(task, error)``. Both come
in as arguments so that this module needs nothing from the runner that imports it.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def run_submitit(tasks: list, folder: str | Path, *, execute: Callable, on_crash: Callable,
                 cluster: str | None = "local", workers: int = 1, parameters: dict | None = None,
                 gpus: list[str] | None = None, bar=None) -> None:
    import submitit

    if not tasks:
        return
    if cluster == "slurm":
        cluster = None  # AutoExecutor's own detection
    ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    params = {"timeout_min": 60, **(parameters or {})}
    if cluster == "local":
        params = {k: v for k, v in params.items() if not k.startswith("slurm_")}
        if gpus:
            params.setdefault("visible_gpus", [int(g) for g in gpus if g.isdigit()])
    elif cluster is None:
        params.setdefault("slurm_array_parallelism", workers)
    ex.update_parameters(**params)
    # The local executor starts every job of an array at once: submit in waves of `workers`
    # so a 2-core machine is not flooded. Slurm throttles with slurm_array_parallelism.
    wave = workers if cluster == "local" else len(tasks)
    poll = 0.5 if cluster in ("local", "debug") else 10.0
    for start in range(0, len(tasks), wave):
        chunk = tasks[start:start + wave]
        jobs = ex.map_array(execute, chunk)
        by_job = {j.job_id: t for j, t in zip(jobs, chunk)}
        for job in submitit.helpers.as_completed(jobs, poll_frequency=poll):
            try:
                job.result()
            except Exception as e:  # job killed, timed out, or failed outside the notebook
                on_crash(by_job[job.job_id], e)
            if bar is not None:
                bar.update()
