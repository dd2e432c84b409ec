"""Progress bars that suit where the code runs.

Interactive (a terminal, or a Jupyter kernel someone is watching): ``tqdm.auto``'s bar, a
widget in JupyterLab (ipywidgets), a redrawn line in a terminal. Batch (papermill kernels
started by the study runner, nbval in CI, logs redirected to a file): a quiet bar that prints
at most one summary line when it closes, plus a percentage line at a few milestones when it
runs long, instead of one saved output line per refresh.

Batch mode is on when ``TRACKKIT_PROGRESS=lines`` (the study runner and the notebook tests set
it for their kernels), or when stderr is not a terminal outside Jupyter; ``TRACKKIT_PROGRESS=bars``
forces bars. This module imports nothing from trackkit, so any layer can use it.
"""
from __future__ import annotations

import os
import sys
import time

ENV = "TRACKKIT_PROGRESS"
MILESTONES = (0.25, 0.5, 0.75)

__all__ = ["ENV", "batch_mode", "progress", "write", "LineProgress"]


def _in_jupyter() -> bool:
    """True inside a Jupyter (ZMQ) kernel; IPython is only consulted when already imported."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def batch_mode() -> bool:
    mode = os.environ.get(ENV, "").strip().lower()
    if mode == "lines":
        return True
    if mode == "bars":
        return False
    if mode:
        raise ValueError(f"{ENV}={mode!r}: use 'lines' (batch: summary lines) or 'bars' (interactive bars)")
    if _in_jupyter():
        return False
    return not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())


def write(message: str) -> None:
    """Print a line above any live bar (plain print when none is drawn)."""
    from tqdm.auto import tqdm

    tqdm.write(message)


class LineProgress:
    """The batch-mode stand-in for a tqdm bar (the subset of its interface trackkit uses).

    On close it prints one line, ``desc: n/total unit in s (rate/s) | postfix``, when the bar was
    made with ``leave=True`` (a bar that would vanish, ``leave=False``, prints none: its caller
    reports the phase). While it runs it prints ``desc: 50% ...`` at the 25 / 50 / 75% marks,
    but only once ``min_interval`` seconds have passed since it started or last printed, so
    short bars stay silent until they finish.
    """

    def __init__(self, iterable=None, *, total=None, desc: str = "", leave: bool = True, unit: str = "it",
                 initial: int = 0, disable: bool = False, min_interval: float = 30.0, file=None, **_ignored):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable, self.total, self.desc, self.leave, self.unit = iterable, total, desc, leave, unit
        self.n, self.initial, self.disable, self.min_interval = initial, initial, disable, min_interval
        self.file = file
        self.postfix = ""
        self._start = self._last = time.perf_counter()
        self._next_mark = 0
        self._closed = False

    # -- tqdm's interface ---------------------------------------------------------------------
    def __iter__(self):
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __len__(self):
        return self.total if self.total is not None else len(self.iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.disable or not self.total:
            return
        crossed = self._next_mark
        while crossed < len(MILESTONES) and self.n >= MILESTONES[crossed] * self.total:
            crossed += 1
        if crossed == self._next_mark:
            return
        self._next_mark = crossed
        now = time.perf_counter()
        # finished: the summary line on close says it; else the highest mark just crossed
        if self.n < self.total and now - self._last >= self.min_interval:
            self._last = now
            self._print(f"{100 * MILESTONES[crossed - 1]:.0f}% ({self._count()})")

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = str(s)

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str = "", refresh: bool = True) -> None:
        self.desc = desc

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.disable or not self.leave:
            return
        wall = time.perf_counter() - self._start
        done = self.n - self.initial
        rate = f", {done / wall:.3g} {self.unit}/s" if wall > 0 and done else ""
        self._print(f"{self._count()} in {wall:.1f} s{rate}" + (f" | {self.postfix}" if self.postfix else ""))

    # -- helpers --------------------------------------------------------------------------------
    def _count(self) -> str:
        return f"{self.n}/{self.total} {self.unit}" if self.total is not None else f"{self.n} {self.unit}"

    def _print(self, text: str) -> None:
        print(f"{self.desc}: {text}" if self.desc else text, file=self.file or sys.stderr, flush=True)


def progress(iterable=None, *, total: int | None = None, desc: str = "", leave: bool = True, **kwargs):
    """A progress bar over ``iterable`` (or one updated by hand up to ``total``).

    Interactive: ``tqdm.auto.tqdm(iterable, total=..., desc=..., leave=..., **kwargs)``. Batch
    (see the module docstring): a :class:`LineProgress`, which accepts the same arguments
    (``unit``, ``initial``, ``disable``; the drawing options are ignored).
    """
    if batch_mode():
        return LineProgress(iterable, total=total, desc=desc, leave=leave, **kwargs)
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=leave, **kwargs)
