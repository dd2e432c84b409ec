"""Execute a study's grid with papermill: parallel, resumable, cached, failure-isolated.

Each run gets its own folder named by its key (see ``trackkit.study.cache``). A run counts
as finished only when its ``record.json`` says ``ok`` or ``failed``; the record is written
atomically as ``running`` before the notebook starts and rewritten at the end, so a study
killed at any moment and started again redoes exactly the unfinished runs.

Parallelism is a spawn process pool (papermill has none of its own). Each worker takes one
GPU from a queue in its initializer (``CUDA_VISIBLE_DEVICES``, inherited by the kernel), and
kernels talk over ipc sockets rather than TCP so parallel kernels cannot race for ports
(papermill #511). Workers ask Linux to kill them when the runner dies, so a killed study leaves
no orphan writing records behind the restarted one.
"""
from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import sys
import tempfile
import time
import traceback
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from trackkit.atomic import write_json
from trackkit.errors import ConfigError
from trackkit.progress import ENV as PROGRESS_ENV, progress as progress_bar, write
from trackkit.study import cache
from trackkit.study.records import (DATA_DIR, NOTEBOOK_FILE, RECORD_FILE, is_finished, list_tables,
                                    manifest_path, read_metrics, read_record, run_dir)
from trackkit.study.shared import CODE_VERSION_ENV
from trackkit.study.spec import RECORD_PARAM, Study, load_notebook, load_study

DEFAULT_OUT = Path("runs") / "studies"
OUTPUT_LOG = "output.log"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def environment(workers: int = 1) -> dict:
    """The machine a study ran on, stored in its manifest so the report shows it beside every
    latency: versions, CPU, cores, workers, and the GPU when one is visible."""
    import os
    import platform

    import numpy
    import torch

    cpu = platform.processor() or platform.machine()
    try:  # the model name is only in /proc/cpuinfo on Linux
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "cpu": cpu, "cores": os.cpu_count(), "workers": workers,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunTask:
    """Everything one run needs; picklable, so it crosses to pool workers and submitit jobs."""

    study: str
    profile: str
    key: str
    params: dict
    notebook: str
    run_dir: str
    kernel: str = "python3"
    timeout_s: float | None = None
    notebook_sha: str = ""
    code_version: str = ""
    git_commit: str | None = None
    inject_record_dir: bool = True


def _ipc_kernel_manager():
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        """Kernel sockets are files with a unique prefix: no TCP ports to race for.

        The prefix must be set here: jupyter_client's default ipc prefix is ``kernel-ipc`` in
        the working directory, which parallel kernels sharing a cwd would also race for.
        """

        def __init__(self, *args, **kwargs):
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", os.path.join(tempfile.gettempdir(), f"tk-{uuid.uuid4().hex[:12]}-ipc"))
            super().__init__(*args, **kwargs)

    return IPCKernelManager


def _describe_error(e: BaseException) -> dict:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(e, PapermillExecutionError):
        return {"type": e.ename, "message": f"{e.ename}: {e.evalue}", "cell_index": e.cell_index,
                "traceback": _ANSI.sub("", "\n".join(e.traceback))}
    return {"type": type(e).__name__, "message": f"{type(e).__name__}: {e}",
            "traceback": "".join(traceback.format_exception(e))}


def _cell_durations(path: Path) -> list[float | None]:
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # a notebook cut short by a dead kernel may be unreadable
        return []
    return [c.metadata.get("papermill", {}).get("duration") for c in nb.cells]


def execute_run(task: RunTask) -> dict:
    """Run one grid point with papermill and write its record. Never raises for a failed run."""
    import papermill as pm

    folder = Path(task.run_dir)
    data = folder / DATA_DIR
    shutil.rmtree(data, ignore_errors=True)  # leftovers of an interrupted attempt
    data.mkdir(parents=True)
    rec = {
        "key": task.key, "study": task.study, "profile": task.profile, "params": task.params,
        "notebook": task.notebook, "notebook_sha256": task.notebook_sha,
        "code_version": task.code_version, "git_commit": task.git_commit,
        "status": "running", "error": None, "started": _now(), "finished": None, "duration_s": None,
        "host": socket.gethostname(), "pid": os.getpid(), "python": platform.python_version(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "output_notebook": NOTEBOOK_FILE, "data_dir": DATA_DIR,
    }
    write_json(folder / RECORD_FILE, rec)
    params = dict(task.params)
    if task.inject_record_dir:
        params[RECORD_PARAM] = str(data.resolve())
    t0 = time.perf_counter()
    # Kernels inherit these. Artifacts shared between runs (trackkit.study.shared) are keyed by
    # the code version the study planned with, not by whatever the sources are when a run
    # starts; and progress bars inside a kernel print summary lines, not a saved output line
    # per refresh (the runner's own bar over the grid is the live view).
    kernel_env = {PROGRESS_ENV: "lines", **({CODE_VERSION_ENV: task.code_version} if task.code_version else {})}
    saved_env = {k: os.environ.get(k) for k in kernel_env}
    os.environ.update(kernel_env)
    # the notebook's stdout / stderr as they come (progress lines included): the runner tails it
    with open(folder / OUTPUT_LOG, "w", buffering=1, errors="replace") as log:
        try:
            pm.execute_notebook(
                load_notebook(task.notebook), str(folder / NOTEBOOK_FILE), parameters=params,
                kernel_name=task.kernel, cwd=str(Path(task.notebook).parent),
                execution_timeout=task.timeout_s, progress_bar=False, log_output=False,
                stdout_file=log, stderr_file=log, kernel_manager_class=_ipc_kernel_manager(),
            )
            rec["status"] = "ok"
        except Exception as e:  # cell error, dead kernel, timeout, bad notebook: all recorded
            rec["status"] = "failed"
            rec["error"] = _describe_error(e)
        finally:
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    rec["duration_s"] = round(time.perf_counter() - t0, 3)
    rec["finished"] = _now()
    rec["cell_durations_s"] = _cell_durations(folder / NOTEBOOK_FILE)
    rec["metrics"] = read_metrics(folder)
    rec["tables"] = list_tables(folder)
    write_json(folder / RECORD_FILE, rec)
    return rec


class OutputTail:
    """Show what running notebooks print while they run (a thread polling their output.log).

    Finished lines (epoch summaries, messages) are printed above the bar, prefixed with the
    run's key; the latest unfinished line (a progress bar redrawn with carriage returns) goes
    into the bar's postfix.
    """

    def __init__(self, tasks: list[RunTask], bar, interval: float = 1.0):
        import threading

        self.bar, self.interval = bar, interval
        self.files = {t.key: Path(t.run_dir) / OUTPUT_LOG for t in tasks}
        # a stale log of an earlier attempt is skipped; the run truncates it when it starts
        self.offsets = {k: (p.stat().st_size if p.exists() else 0) for k, p in self.files.items()}
        self.partial = {k: "" for k in self.files}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.poll()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        for key, path in self.files.items():
            try:
                if path.stat().st_size < self.offsets[key]:  # truncated: the run (re)started
                    self.offsets[key], self.partial[key] = 0, ""
                with open(path, "rb") as fh:
                    fh.seek(self.offsets[key])
                    chunk = fh.read()
            except OSError:
                continue
            if not chunk:
                continue
            self.offsets[key] += len(chunk)
            text = self.partial[key] + chunk.decode("utf-8", "replace")
            *lines, self.partial[key] = text.split("\n")
            for line in lines:
                last = _ANSI.sub("", line.split("\r")[-1]).strip()
                if last:
                    write(f"[{key[:6]}] {last}")
            live = _ANSI.sub("", self.partial[key].split("\r")[-1]).strip()
            if live and self.bar is not None:
                self.bar.set_postfix_str(f"[{key[:6]}] {live}"[:100], refresh=True)


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies (no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def _init_worker(gpu_queue) -> None:
    _die_with_parent()
    if gpu_queue is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu_queue.get())


def detect_gpus() -> list[str]:
    """GPU ids to hand out: CUDA_VISIBLE_DEVICES if set, else those nvidia-smi lists."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g for g in env.split(",") if g.strip() and g.strip() != "-1"]
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    import subprocess

    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def _crash_record(task: RunTask, e: BaseException) -> dict:
    """The worker died without writing a final record (e.g. killed by the OOM killer)."""
    rec = read_record(task.run_dir) or {"key": task.key, "study": task.study, "params": task.params}
    rec.update(status="failed", finished=_now(), error=_describe_error(e))
    write_json(Path(task.run_dir) / RECORD_FILE, rec)
    return rec


def run_local(tasks: list[RunTask], workers: int = 1, gpus: list[str] | None = None, bar=None) -> None:
    """Execute ``tasks`` here: in-process for one CPU worker, else in a spawn process pool."""
    if not tasks:
        return
    if workers <= 1 and not gpus:
        for t in tasks:
            execute_run(t)
            if bar is not None:
                bar.update()
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = None
    if gpus:
        queue = ctx.Queue()
        for i in range(workers):
            queue.put(gpus[i % len(gpus)])
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(queue,)) as ex:
        futures = {ex.submit(execute_run, t): t for t in tasks}
        for f in as_completed(futures):
            try:
                f.result()
            except Exception as e:  # BrokenProcessPool and friends
                _crash_record(futures[f], e)
            if bar is not None:
                bar.update()


@dataclass
class StudyResult:
    study: str
    profile: str
    out: Path
    records: list[dict] = field(default_factory=list)
    executed: int = 0
    cached: int = 0

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.records if r.get("status") != "ok"]

    @property
    def ok(self) -> bool:
        return not self.failed


def plan(study: Study, profile: str | None, out: str | Path, code_version: str | None = None,
         git_commit: str | None = None) -> list[RunTask]:
    """The tasks of every run of ``study`` at ``profile`` (no execution)."""
    prof = study.profile(profile).name
    nb_sha = cache.notebook_hash(load_notebook(study.notebook))
    code_sha = code_version or cache.code_version()
    inject = RECORD_PARAM in study.notebook_params
    tasks = []
    for params in study.runs(prof):
        key = cache.run_key(nb_sha, params, code_sha)
        tasks.append(RunTask(
            study=study.name, profile=prof, key=key, params=params, notebook=str(study.notebook),
            run_dir=str(run_dir(out, study.name, key).resolve()), kernel=study.kernel,
            timeout_s=study.timeout(prof), notebook_sha=nb_sha, code_version=code_sha,
            git_commit=git_commit, inject_record_dir=inject))
    return tasks


def run_study(study: Study | str | Path, profile: str | None = None, out: str | Path = DEFAULT_OUT,
              workers: int = 1, executor: str = "local", cluster: str | None = "local",
              force: bool = False, retry_failed: bool = False, code_version: str | None = None,
              gpus: list[str] | None = None, progress: bool = True) -> StudyResult:
    """Run every unfinished grid point of ``study`` at ``profile``; see the module docstring.

    ``executor``: ``local`` (process pool) or ``submitit`` (``cluster``: ``local``, ``debug``,
    or None/``slurm`` for auto-detection). ``force`` reruns finished runs; ``retry_failed``
    reruns only the failed ones. ``code_version`` overrides the hash of the trackkit sources
    (tests pin it). ``gpus`` defaults to those detected.
    """
    return run_studies([study], profile, out, workers=workers, executor=executor, cluster=cluster, force=force,
                       retry_failed=retry_failed, code_version=code_version, gpus=gpus, progress=progress)[0]


def run_studies(studies: list, profile: str | None = None, out: str | Path = DEFAULT_OUT, workers: int = 1,
                executor: str = "local", cluster: str | None = "local", force: bool = False,
                retry_failed: bool = False, code_version: str | None = None, gpus: list[str] | None = None,
                progress: bool = True) -> list[StudyResult]:
    """:func:`run_study` for several studies sharing one pool of ``workers`` (local executor).

    Their runs queue in the order given (study by study, each in its file's order), so a worker
    that finishes takes the next run of any study instead of idling until the slowest run of its
    own study ends. A run that needs a network another run is still training waits for it (the
    file locks of :mod:`trackkit.study.shared`), so order the studies and points so that the
    long trainings come first. Each study keeps its own records and manifest, exactly as when
    run alone; one progress bar counts the runs of all of them. ``profile`` None: each study's
    default. With ``executor="submitit"`` the studies are submitted one after the other.
    """
    if executor not in ("local", "submitit"):
        raise ConfigError(f"unknown executor {executor!r} (expected local or submitit)")
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    studies = [s if isinstance(s, Study) else load_study(s) for s in studies]
    if executor == "submitit" and len(studies) > 1:
        return [run_studies([s], profile, out, workers, executor, cluster, force, retry_failed, code_version, gpus,
                            progress)[0] for s in studies]
    out = Path(out)
    commit = cache.git_commit()
    plans = []  # (study, profile, tasks, manifest)
    for study in studies:
        prof = study.profile(profile).name
        tasks = plan(study, prof, out, code_version, commit)
        manifest = {
            "kind": "trackkit-study-manifest", "study": study.name, "profile": prof,
            "description": study.description, "study_file": str(study.path), "notebook": str(study.notebook),
            "report": study.report, "started": _now(), "finished": None, "environment": environment(workers),
            "runs": [{"key": t.key, "params": t.params} for t in tasks],
        }
        write_json(manifest_path(out, study.name, prof), manifest)
        plans.append((study, prof, tasks, manifest))

    def wanted(t: RunTask) -> bool:
        rec = read_record(t.run_dir)
        return force or not is_finished(rec) or (retry_failed and rec["status"] == "failed")

    todo_of = {study.name: [t for t in tasks if wanted(t)] for study, _, tasks, _ in plans}
    todo = [t for ts in todo_of.values() for t in ts]
    total = sum(len(tasks) for _, _, tasks, _ in plans)
    desc = (f"{plans[0][0].name}[{plans[0][1]}]" if len(plans) == 1 else
            f"{len(plans)} studies[{','.join(sorted({p for _, p, _, _ in plans}))}]")
    gpus = detect_gpus() if gpus is None else gpus
    with progress_bar(total=total, initial=total - len(todo), desc=desc, unit="run", disable=not progress,
                      mininterval=1.0) as bar:
        if executor == "submitit":
            from trackkit.study.cluster import run_submitit

            study = plans[0][0]
            run_submitit(todo, folder=out / study.name / "submitit", execute=execute_run, on_crash=_crash_record,
                         cluster=cluster, workers=workers, parameters=study.cluster, gpus=gpus, bar=bar)
        else:
            import contextlib

            with OutputTail(todo, bar) if progress else contextlib.nullcontext():
                run_local(todo, workers=workers, gpus=gpus, bar=bar)
    results = []
    for study, prof, tasks, manifest in plans:
        records = []
        for t in tasks:
            rec = read_record(t.run_dir)
            if not is_finished(rec):  # the executor lost it (submitit job killed, ...)
                rec = _crash_record(t, RuntimeError("run ended without a final record"))
            records.append(rec)
        n_failed = sum(r["status"] != "ok" for r in records)
        manifest.update(finished=_now(), n_runs=len(tasks), n_failed=n_failed)
        write_json(manifest_path(out, study.name, prof), manifest)
        n_todo = len(todo_of[study.name])
        results.append(StudyResult(study.name, prof, out, records, executed=n_todo, cached=len(tasks) - n_todo))
    return results
