"""Run a tracker over a dataset and write result files the toolkits read.

Layouts (one folder per tracker under ``out``):

- ``got10k``: ``<out>/<tracker>/<seq>/<seq>_001.txt`` (x,y,w,h per frame, ``%.3f``, comma
  separated, frame 0 included) and ``<seq>_time.txt`` (seconds per frame).
- ``pytracking``: ``<out>/<tracker>/<seq>.txt`` (tab separated, boxes cast to int as
  pytracking does) and ``<seq>_time.txt``, under pytracking's names and frame ranges for the
  datasets its analysis knows (``uav_<seq>``, ``nfs_<seq>``, ``Jogging_1``; OTB's Tiger1 tracked
  from frame 6, its ``initOmit``), so the ``otb`` / ``uav`` / ``nfs`` / ``lasot`` protocols and
  pytracking itself read the folder as they read pytracking's own.

Beside them, a model tracker's per-frame records (its family's diagnostics: peak score, exit
layer, memory quality ...) go to ``<seq>_records.csv`` (one column per record, one row per
frame, empty at frame 0); the toolkits ignore that file.

The formats are :mod:`trackkit.eval.results`' writers (one place for them); every file is
written atomically, and a rerun skips sequences whose files are complete (resume). Frame times are per-frame wall times of the
tracker's work (frame decoding excluded, as pytracking and the got10k toolkit time it); the
summary's end-to-end fps is frames / total wall time including decoding and writing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trackkit.errors import ConfigError

LAYOUTS = ("got10k", "pytracking")


def result_paths(out: str | Path, tracker: str, seq: str, layout: str = "got10k") -> tuple[Path, Path]:
    """(box file, time file) of one sequence."""
    root = Path(out) / tracker
    if layout == "got10k":
        return root / seq / f"{seq}_001.txt", root / seq / f"{seq}_time.txt"
    if layout == "pytracking":
        return root / f"{seq}.txt", root / f"{seq}_time.txt"
    raise ConfigError(f"unknown result layout {layout!r}; choose from {', '.join(LAYOUTS)}")


def write_result(out: str | Path, tracker: str, seq: str, boxes: np.ndarray, times: np.ndarray,
                 layout: str = "got10k", records: dict[str, np.ndarray] | None = None) -> Path:
    """Write one sequence's boxes and times with the eval package's writers (atomic files), and
    its per-frame records (if any) to ``<seq>_records.csv`` beside the time file."""
    from trackkit.eval.results import SequenceResult, write_got10k_results, write_pytracking_results

    box_path, _ = result_paths(out, tracker, seq, layout)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not np.isfinite(boxes).all():
        bad = int(np.flatnonzero(~np.isfinite(boxes).all(1))[0])
        raise ValueError(f"{seq}: non-finite predicted box at frame {bad}")
    res = {seq: SequenceResult(seq, [boxes], np.asarray(times, dtype=np.float64).reshape(-1, 1))}
    if records:
        import pandas as pd

        from trackkit.atomic import atomic_open

        with atomic_open(records_path(out, tracker, seq, layout), "w") as fh:
            pd.DataFrame({k: np.asarray(v, dtype=np.float64) for k, v in records.items()}).to_csv(
                fh, index_label="frame", float_format="%.9g")
    if layout == "got10k":  # box file last: its presence marks the sequence finished
        write_got10k_results(Path(out) / tracker, res)
    else:
        write_pytracking_results(Path(out) / tracker, res)
    return box_path


def records_path(out: str | Path, tracker: str, seq: str, layout: str = "got10k") -> Path:
    """Where a sequence's per-frame records go (beside its time file)."""
    _, time_path = result_paths(out, tracker, seq, layout)
    return time_path.with_name(f"{seq}_records.csv")


def pytracking_sequence(seq):
    """``seq`` as pytracking tracks it: its result name (``uav_<seq>``, ``Jogging_1`` ...) and
    first frame (``initOmit``: OTB's Tiger1 from frame 6) for the datasets pytracking's
    analysis knows; any other sequence unchanged."""
    from trackkit.eval.protocols import PYTRACKING_INIT_OMIT
    from trackkit.eval.results import pytracking_name

    if seq.dataset not in ("otb", "uav", "nfs", "lasot"):
        return seq
    omit = PYTRACKING_INIT_OMIT.get(seq.dataset, {}).get(seq.name, 0)
    return seq.starting_at(omit, name=pytracking_name(seq.dataset, seq.name))


def sequence_finished(out: str | Path, tracker: str, seq, layout: str = "got10k") -> bool:
    """A sequence is finished when both files exist and the box file has one line per frame
    (files are written atomically, so a crash leaves a sequence absent, never half written)."""
    box_path, time_path = result_paths(out, tracker, seq.name, layout)
    if not (box_path.is_file() and time_path.is_file()):
        return False
    with open(box_path) as fh:
        return sum(1 for line in fh if line.strip()) == len(seq)


@dataclass
class RunSummary:
    tracker: str
    folder: Path
    sequences: int  # tracked in this run
    skipped: int  # already finished (resume)
    frames: int
    seconds: float  # wall time of the whole run
    tracker_seconds: float  # sum of the per-frame times

    @property
    def fps(self) -> float:
        """End-to-end frames per second (frames / total wall time)."""
        return self.frames / self.seconds if self.seconds > 0 else float("nan")

    @property
    def tracker_fps(self) -> float:
        return self.frames / self.tracker_seconds if self.tracker_seconds > 0 else float("nan")


def track_sequence(tracker, seq, records: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One sequence, one frame at a time through the :class:`Tracker` protocol. With a dict
    ``records``, the tracker's per-frame ``last_records`` (if it has them) are collected into it
    (name -> (N,) array, NaN at frame 0)."""
    n = len(seq)
    boxes = np.zeros((n, 4))
    times = np.zeros(n)
    frame = seq.frames[0]
    t0 = time.perf_counter()
    tracker.initialize(frame, seq.boxes[0], sequence=seq)
    times[0] = time.perf_counter() - t0
    boxes[0] = seq.boxes[0]
    for i in range(1, n):
        frame = seq.frames[i]
        t0 = time.perf_counter()
        boxes[i] = tracker.track(frame)
        times[i] = time.perf_counter() - t0
        if records is not None:
            for k, v in getattr(tracker, "last_records", {}).items():
                records.setdefault(k, np.full(n, np.nan))[i] = v
    return boxes, times


def run_tracker(tracker, dataset, out: str | Path, *, name: str | None = None, layout: str = "got10k",
                batch_size: int = 1, resume: bool = True, progress: bool = True) -> RunSummary:
    """Track every sequence of ``dataset`` and write its result files under ``out/<name>``.

    Args:
        tracker: a :class:`~trackkit.track.tracker.Tracker`; with ``batch_size > 1`` it must be
            a :class:`~trackkit.track.tracker.ModelTracker` (many sequences per forward).
        dataset: iterable of :class:`~trackkit.data.sequence.Sequence`.
        out: results root; files go to ``out/<name>/...`` in ``layout``.
        name: result folder name (default ``tracker.name``).
        resume: skip sequences whose result files are complete.
        progress: a bar over frames (:mod:`trackkit.progress`: one line when it ends in batch runs).

    Deterministic trackers run once: got10k files are ``<seq>_001.txt``.
    """
    from trackkit.progress import progress as progress_bar

    result_paths(out, "x", "x", layout)  # validates the layout early
    name = name or getattr(tracker, "name", None) or type(tracker).__name__
    todo, skipped = [], 0
    if layout == "pytracking":
        dataset = [pytracking_sequence(seq) for seq in dataset]
    for seq in dataset:
        if resume and sequence_finished(out, name, seq, layout):
            skipped += 1
        else:
            todo.append(seq)
    frames = sum(len(s) for s in todo)
    bar = progress_bar(total=frames, desc=name, unit="frame", disable=not progress, leave=True)
    t_start = time.perf_counter()
    spent = 0.0
    try:
        if batch_size > 1:
            from trackkit.track.batched import track_batched

            if not hasattr(tracker, "step_batch"):
                raise ConfigError(f"tracker {name!r} cannot run batched; use batch_size=1")
            for res in track_batched(tracker, todo, batch_size=batch_size, on_frames=bar.update):
                write_result(out, name, res.name, res.boxes, res.times, layout, res.records)
                spent += float(res.times.sum())
        else:
            for seq in todo:
                records: dict = {}
                boxes, times = track_sequence(tracker, seq, records)
                write_result(out, name, seq.name, boxes, times, layout, records)
                spent += float(times.sum())
                bar.update(len(seq))
    finally:
        bar.close()
    return RunSummary(name, Path(out) / name, len(todo), skipped, frames, time.perf_counter() - t_start, spent)
