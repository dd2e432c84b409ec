"""Tracker result files in each toolkit's own layout: read, validate, write (atomically).

Layouts:

* ``got10k`` (got10k toolkit, server submission): ``<tracker>/<seq>/<seq>_001.txt`` ...
  one ``x,y,w,h`` line per frame including frame 0, ``%.3f``, comma separated; one file per
  repetition; ``<seq>/<seq>_time.txt`` with one comma-separated column per repetition.
* ``pytracking`` (also OSTrack, TrackingNet submissions): ``<run folder>/<seq>.txt``, tab
  (or comma) separated, written as ints (``astype(int)``: truncation toward zero);
  ``<seq>_time.txt`` one value per line. Several runs are several folders
  (``<param>_000``, ``<param>_001`` ...). pytracking names some sequences its own way
  (:func:`pytracking_name`: ``uav_bike1``, ``nfs_Basketball``, ``Jogging_1``, ``Human4_2``);
  scoring accepts those names and trackkit's, and the writer writes pytracking's when told
  the dataset.

A malformed file raises :class:`~trackkit.errors.DataError` naming the file, the line and the
problem (wrong column count, a value that is not a number, NaN where not allowed, a length
that does not match the sequence).

Reading a folder parses all its files in one batched call per kind (boxes, times; see
:func:`trackkit.data.readers.common.parse_files`): the per-file cost (~1 ms of parser set-up)
was most of the scoring time. Values are bit-identical to :func:`read_box_file`, which still
reads (and explains) any file the batch cannot vouch for. The runs of a folder are views into
one shared array.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from trackkit.atomic import atomic_open
from trackkit.data.readers.common import parse_files
from trackkit.errors import DataError

__all__ = [
    "SequenceResult", "ResultSet", "read_box_file", "read_time_file", "read_got10k_results",
    "write_got10k_results", "read_pytracking_results", "write_pytracking_results",
    "read_results", "detect_layout", "pytracking_name", "pytracking_run_folders",
]


@dataclass
class SequenceResult:
    """Predictions of one tracker on one sequence.

    Attributes:
        name: sequence name.
        runs: one ``(N, 4)`` float64 x, y, w, h array per repetition / run.
        times: ``(N, R)`` seconds per frame (NaN where unknown), or None.
        sources: the file each run was read from (error messages name it), or None.
    """

    name: str
    runs: list[np.ndarray]
    times: np.ndarray | None = None
    sources: list[Path | None] = field(default_factory=list)

    def __post_init__(self):
        self.runs = [np.asarray(r, dtype=np.float64).reshape(-1, 4) for r in self.runs]
        if not self.runs:
            raise DataError(None, f"sequence {self.name}: no result runs")
        if self.times is not None:
            t = np.asarray(self.times, dtype=np.float64)
            self.times = t.reshape(-1, 1) if t.ndim == 1 else t
        self.sources = list(self.sources) + [None] * (len(self.runs) - len(self.sources))

    def source(self, run: int) -> Path | None:
        return self.sources[run]


class ResultSet(dict):
    """``{sequence name: SequenceResult}`` for one tracker, with its name and layout."""

    def __init__(self, items=(), tracker: str = "", layout: str = "", root: Path | None = None):
        super().__init__(items)
        self.tracker = tracker
        self.layout = layout
        self.root = root


# ----------------------------------------------------------------------------- parsing
_SPLIT = {",": re.compile(r"\s*,\s*"), "\t": re.compile(r"\s*\t\s*"), " ": re.compile(r"\s+")}


def _slow_parse(path: Path, text: str, ncols: int, delimiters: str, allow_nan: bool) -> np.ndarray:
    """Line-by-line parse that explains exactly what is wrong (the fast path's fallback)."""
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s:
            if any(l.strip() for l in text.splitlines()[lineno:]):
                raise DataError(path, "empty line inside the file", lineno)
            continue
        for d in delimiters:
            parts = _SPLIT[d].split(s)
            if len(parts) == ncols:
                break
        else:
            seps = " or ".join(repr(d) for d in delimiters)
            n = max(len(_SPLIT[d].split(s)) for d in delimiters)
            raise DataError(path, f"expected {ncols} values separated by {seps}, found {n}: {s[:60]!r}", lineno)
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            bad = next(p for p in parts if not _is_float(p))
            raise DataError(path, f"{bad!r} is not a number", lineno) from None
        if not allow_nan and any(v != v for v in vals):
            raise DataError(path, "NaN is not allowed here", lineno)
        if any(v in (float("inf"), float("-inf")) for v in vals):
            raise DataError(path, "infinite value", lineno)
        rows.append(vals)
    return np.asarray(rows, dtype=np.float64).reshape(-1, ncols)


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def read_box_file(path: str | Path, ncols: int = 4, delimiters: str = ",\t",
                  allow_nan: bool = True, expected_len: int | None = None) -> np.ndarray:
    """Read a numeric text file of ``ncols`` values per line into a float64 array.

    The fast path is pandas' C parser (correctly rounded, identical to ``np.loadtxt``);
    anything odd falls back to a line-by-line parse that raises a :class:`DataError` with the
    line number. ``expected_len`` checks the number of lines (one per frame).
    """
    import pandas as pd

    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    arr = None
    first = raw[: raw.find(b"\n")] if b"\n" in raw else raw
    sep = next((d for d in delimiters if d.encode() in first), None)
    if sep is not None or ncols == 1:
        try:
            import io

            df = pd.read_csv(io.BytesIO(raw), header=None, sep=sep or ",", dtype=np.float64,
                             skip_blank_lines=False, na_filter=True, engine="c")
            arr = df.to_numpy()
            if arr.shape[1] != ncols or np.isinf(arr).any() or np.isnan(arr).any():
                arr = None  # let the slow path name the line (NaN may be legal: re-checked there)
        except Exception:
            arr = None
    if arr is None:
        arr = _slow_parse(path, raw.decode("utf-8", errors="replace"), ncols, delimiters, allow_nan)
    if expected_len is not None and len(arr) != expected_len:
        raise DataError(path, f"{len(arr)} lines but the sequence has {expected_len} frames",
                        min(len(arr), expected_len) + 1)
    return arr


def read_time_file(path: str | Path, delimiters: str = ",\t") -> np.ndarray:
    """Per-frame times, ``(N, R)``: one column per repetition (got10k) or one column."""
    path = Path(path)
    text = path.read_text()
    first = next((l for l in text.splitlines() if l.strip()), "")
    ncols = 1
    for d in delimiters:
        if d in first:
            ncols = len(_SPLIT[d].split(first.strip()))
            break
    return read_box_file(path, ncols=ncols, delimiters=delimiters, allow_nan=True)


def _read_many(paths: list[Path], delimiters: str, ncols: int | None, fallback) -> list[np.ndarray]:
    """Many result files with one batched parse per (delimiter, width) group.

    The delimiter is chosen from each file's first line exactly as :func:`read_box_file`
    does; ``ncols=None`` takes the width from the first line (time files). A file the fast
    path cannot vouch for (see :func:`~trackkit.data.readers.common.parse_files`) is read
    by ``fallback(path)``, the exact per-file reader, which also raises the errors.
    """
    def classify(first: bytes):
        sep = next((d for d in delimiters if d.encode() in first), None)
        n = ncols if ncols is not None else (1 if sep is None else first.count(sep.encode()) + 1)
        return None if sep is None and n != 1 else (sep or ",", n)

    arrs = parse_files(paths, classify)
    return [a if a is not None else fallback(p) for p, a in zip(paths, arrs)]


# ----------------------------------------------------------------------------- got10k layout
_REP = re.compile(r"^(?P<seq>.+)_(?P<rep>\d+)\.txt$")


def read_got10k_results(folder: str | Path, names: Iterable[str] | None = None,
                        allow_nan: bool = False) -> ResultSet:
    """Read ``folder/<seq>/<seq>_NNN.txt`` (+ ``<seq>_time.txt``) for every sequence folder
    (or only ``names``). Repetitions are returned in file-number order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "result folder not found")
    seq_dirs = [folder / n for n in names] if names is not None else sorted(p for p in folder.iterdir() if p.is_dir())
    out = ResultSet(tracker=folder.name, layout="got10k", root=folder)
    found = []  # (name, run files, time file or None)
    for d in seq_dirs:
        if not d.is_dir():
            continue  # missing sequences are reported by evaluate(), all at once
        files, tfile = [], None
        for p in d.iterdir():
            m = _REP.match(p.name)
            if m and m["seq"] == d.name:
                files.append((int(m["rep"]), p))
            elif p.name == f"{d.name}_time.txt" and p.is_file():
                tfile = p
        if files:
            files.sort()
            found.append((d.name, [p for _, p in files], tfile))
    # One batched parse for all run files, one for all time files (the per-file cost dominates).
    runs = iter(_read_many([p for _, fs, _ in found for p in fs], ",", 4,
                           lambda p: read_box_file(p, 4, ",", allow_nan=allow_nan)))
    tfiles = [t for _, _, t in found if t is not None]
    times = dict(zip(tfiles, _read_many(tfiles, ",", None, lambda p: read_time_file(p, ","))))
    for name, fs, tfile in found:
        out[name] = SequenceResult(name, [next(runs) for _ in fs], times.get(tfile), fs)
    return out


def write_got10k_results(folder: str | Path, results: dict[str, SequenceResult]) -> None:
    """Write in the got10k toolkit / server layout (``%.3f``, comma separated)."""
    folder = Path(folder)
    for name, res in results.items():
        for r, boxes in enumerate(res.runs, 1):
            _write_rows(folder / name / f"{name}_{r:03d}.txt", boxes, "%.3f", ",")
        if res.times is not None:
            _write_rows(folder / name / f"{name}_time.txt", res.times, "%.8f", ",")


def _write_rows(path: Path, arr: np.ndarray, fmt: str, delim: str) -> None:
    arr = np.asarray(arr)
    arr = arr.reshape(len(arr), -1)
    with atomic_open(path, "w") as fh:
        np.savetxt(fh, arr, fmt=fmt, delimiter=delim)


# ----------------------------------------------------------------------------- pytracking layout
# pytracking's sequence tables (pytracking/evaluation/{uav,nfs,otb}dataset.py, commit 7eb9e74)
# name every UAV123 and NfS sequence with a prefix, and OTB's two-target videos
# "<video>_<k>" for groundtruth_rect.<k>.txt; Human4 keeps only its second target.
_PYTRACKING_PREFIX = {"uav": "uav_", "nfs": "nfs_"}
_PYTRACKING_OTB = {"Human4": "Human4_2"}
_TARGET_SUFFIX = re.compile(r"\.(\d+)$")


def pytracking_name(dataset: str, name: str) -> str:
    """The name pytracking gives trackkit's sequence ``name`` of ``dataset`` (its result
    file is ``<that>.txt``): ``uav``: ``uav_<name>``; ``nfs``: ``nfs_<name>``; ``otb``:
    ``Jogging.1`` -> ``Jogging_1``, ``Human4`` -> ``Human4_2``; otherwise ``name``."""
    if dataset == "otb":
        return _TARGET_SUFFIX.sub(r"_\1", _PYTRACKING_OTB.get(name, name))
    return _PYTRACKING_PREFIX.get(dataset, "") + name


def read_pytracking_results(folders: str | Path | Iterable[str | Path], names: Iterable[str] | None = None,
                            allow_nan: bool = False) -> ResultSet:
    """Read ``<folder>/<seq>.txt`` (+ ``<seq>_time.txt``); several folders are several runs
    (pytracking's ``<param>_000``, ``<param>_001`` ...)."""
    if isinstance(folders, (str, Path)):
        folders = [folders]
    folders = [Path(f) for f in folders]
    for f in folders:
        if not f.is_dir():
            raise DataError(f, "result folder not found")
    if names is None:
        names = sorted({p.stem for f in folders for p in f.glob("*.txt") if not p.stem.endswith("_time")})
    out = ResultSet(tracker=folders[0].name, layout="pytracking", root=folders[0])
    found = []  # (name, box files, time files or None)
    for n in names:
        files = [f / f"{n}.txt" for f in folders if (f / f"{n}.txt").is_file()]
        if files and len(files) < len(folders):
            # pytracking raises 'Result not found' too: a run silently missing would reweight
            missing = next(f / f"{n}.txt" for f in folders if not (f / f"{n}.txt").is_file())
            raise DataError(missing, f"file not found, but {files[0]} exists: every run folder needs every sequence")
        if files:
            tfiles = [p.with_name(f"{n}_time.txt") for p in files]
            found.append((n, files, tfiles if all(t.is_file() for t in tfiles) else None))
    # One batched parse for all box files, one for all time files.
    runs = iter(_read_many([p for _, fs, _ in found for p in fs], "\t, ", 4,
                           lambda p: read_box_file(p, 4, "\t, ", allow_nan=allow_nan)))
    tpaths = [t for _, _, ts in found if ts for t in ts]
    tcols = iter(_read_many(tpaths, "\t,", None, lambda p: read_time_file(p, "\t,")))
    for n, files, tfiles in found:
        runs_n = [next(runs) for _ in files]
        times = None
        if tfiles is not None:
            cols = [next(tcols)[:, 0] for _ in tfiles]
            if len({len(c) for c in cols}) == 1:
                times = np.stack(cols, axis=1)
        out[n] = SequenceResult(n, runs_n, times, files)
    return out


def write_pytracking_results(folder: str | Path, results: dict[str, SequenceResult], run: int = 0,
                             dataset: str | None = None) -> None:
    """Write run ``run`` of each sequence the way pytracking does: ints (truncated), tab
    separated; times ``%f``. With ``dataset`` (``otb``, ``uav``, ``nfs``, ``lasot``) the
    files take pytracking's names (:func:`pytracking_name`); without it, trackkit's."""
    folder = Path(folder)
    for key, res in results.items():
        name = key if dataset is None else pytracking_name(dataset, key)
        _write_rows(folder / f"{name}.txt", np.asarray(res.runs[run]).astype(int), "%d", "\t")
        if res.times is not None:
            _write_rows(folder / f"{name}_time.txt", res.times[:, min(run, res.times.shape[1] - 1)], "%f", "\t")


# ----------------------------------------------------------------------------- autodetect
_RUN_FOLDER = re.compile(r"^.+_\d{3}$")


def pytracking_run_folders(folder: str | Path) -> list[Path]:
    """The run folders of a pytracking tracker folder: ``folder`` itself when it holds
    ``<seq>.txt`` files, else its ``<param>_000``, ``<param>_001`` ... subfolders (pytracking's
    ``<tracker>/<param>_<run:03d>``) that hold result files, in run order."""
    folder = Path(folder)
    if any(folder.glob("*.txt")):
        return [folder]
    return sorted(d for d in folder.iterdir() if d.is_dir() and _RUN_FOLDER.match(d.name) and any(d.glob("*.txt")))


def detect_layout(folder: str | Path) -> str:
    """``got10k`` when the folder holds ``<seq>/<seq>_001.txt``, ``pytracking`` when it holds
    ``<seq>.txt`` files or pytracking run folders ``<param>_000/<seq>.txt`` ..."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "result folder not found")
    for d in folder.iterdir():
        if d.is_dir() and any(_REP.match(p.name) for p in d.glob(f"{d.name}_*.txt")):
            return "got10k"
    if pytracking_run_folders(folder):
        return "pytracking"
    raise DataError(folder, "no result files (expected <seq>/<seq>_001.txt, <seq>.txt or <param>_000/<seq>.txt)")


def read_results(folder: str | Path | list, layout: str | None = None, names: Iterable[str] | None = None,
                 allow_nan: bool = False) -> ResultSet:
    """Read one tracker's results in either layout (``layout=None`` detects it).

    ``folder`` may also be a list of pytracking run folders (several runs); a pytracking
    tracker folder holding ``<param>_000``, ``<param>_001`` ... reads those as runs."""
    if not isinstance(folder, (str, Path)):
        folders = [Path(f) for f in folder]
        if len(folders) == 1:
            return read_results(folders[0], layout, names, allow_nan)
        if layout not in (None, "pytracking"):
            raise DataError(folders[0], f"several result folders are several pytracking runs, not layout {layout!r}")
        return read_pytracking_results(folders, names, allow_nan)
    layout = layout or detect_layout(folder)
    if layout == "got10k":
        return read_got10k_results(folder, names, allow_nan)
    if layout == "pytracking":
        runs = pytracking_run_folders(folder) if Path(folder).is_dir() else []
        return read_pytracking_results(runs or folder, names, allow_nan)
    raise DataError(folder, f"unknown result layout {layout!r} (got10k, pytracking)")
