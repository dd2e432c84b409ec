"""Table parsing and folder helpers shared by the dataset readers.

Annotation files are parsed in one vectorized ``numpy.loadtxt`` call. Only when that fails
(or a value check fails) do we walk the file line by line, and then only to name the first
bad line in the :class:`~trackkit.errors.DataError`, so a user can open the file at it.
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Callable

import numpy as np

from trackkit.errors import DataError

# OTB mixes commas, tabs and spaces (sometimes in one file); "auto" accepts any of them.
_AUTO_SPLIT = re.compile(r"[,\s]+")


def read_text(path: Path) -> str:
    """The file's text (a UTF-8 BOM dropped); DataError when missing or unreadable."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(path, "file is missing") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(path, f"cannot be read ({e})") from None


def _split(line: str, delimiter: str | None) -> list[str]:
    line = line.strip()
    if delimiter == "auto":
        return [t for t in _AUTO_SPLIT.split(line) if t]
    if delimiter is None:
        return line.split()
    return [t.strip() for t in line.split(delimiter)]


def _data_lines(text: str) -> list[tuple[int, str]]:
    """(1-based line number, line) of every non-blank line."""
    return [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]


def _locate(path: Path, text: str, delimiter: str | None, ncols: int | None, usecols=None) -> DataError:
    """Line-by-line pass that finds why the fast parse failed."""
    lines = _data_lines(text)
    want = ncols
    for lineno, ln in lines:
        toks = _split(ln, delimiter)
        if usecols is not None:
            if len(toks) <= max(usecols):
                return DataError(path, f"expected at least {max(usecols) + 1} columns, found {len(toks)}", lineno)
            toks = [toks[c] for c in usecols]
        else:
            if want is None:
                want = len(toks)
            if len(toks) != want:
                return DataError(path, f"expected {want} columns, found {len(toks)}", lineno)
        for t in toks:
            try:
                float(t)
            except ValueError:
                return DataError(path, f"non-numeric value {t!r}", lineno)
    return DataError(path, "cannot be parsed as a numeric table")


def _row_line(text: str, row: int) -> int:
    """1-based file line of data row ``row`` (blank lines are skipped by the parser)."""
    return _data_lines(text)[row][0]


def read_table(
    path: str | Path,
    ncols: int | None = 4,
    delimiter: str | None = ",",
    allow_nan: bool = False,
    check_boxes: bool = True,
    min_rows: int = 1,
    usecols: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Parse a numeric table into a ``(rows, ncols)`` float64 array.

    Args:
        path: the file.
        ncols: required number of columns (None: whatever the first line has).
        delimiter: ``","``, ``"\\t"``, None (any whitespace) or ``"auto"`` (commas and/or
            whitespace, as OTB needs).
        allow_nan: NaN rows are allowed (UAV123 marks absent targets so); a row must then be
            all-NaN or all-finite.
        check_boxes: columns 2 and 3 are w, h and must not be negative.
        min_rows: fewer data rows is an error (an empty groundtruth file).
        usecols: parse only these columns (others may hold text); ``ncols`` is then ignored.

    Raises:
        DataError naming the file, the 1-based line and the problem.
    """
    path = Path(path)
    text = read_text(path)
    if not text.strip():
        if min_rows:
            raise DataError(path, "file is empty")
        return np.zeros((0, ncols or 0))
    src = text.replace(",", " ") if delimiter == "auto" else text
    delim = None if delimiter == "auto" else delimiter
    try:
        arr = np.loadtxt(io.StringIO(src), delimiter=delim, dtype=np.float64, ndmin=2, usecols=usecols, comments=None)
    except ValueError:
        raise _locate(path, text, delimiter, ncols, usecols) from None
    if usecols is not None:
        ncols = len(usecols)
    if arr.shape[0] < min_rows:
        raise DataError(path, f"has {arr.shape[0]} data rows, expected at least {min_rows}")
    if arr.shape[0] and ncols is not None and arr.shape[1] != ncols:
        raise DataError(path, f"expected {ncols} columns, found {arr.shape[1]}", _row_line(text, 0))
    if arr.size:
        nan = np.isnan(arr)
        if nan.any():
            bad_rows = nan.any(1) & ~nan.all(1) if allow_nan else nan.any(1)
            if bad_rows.any():
                r = int(np.argmax(bad_rows))
                what = "partly NaN row" if allow_nan else "NaN value (not allowed in this file)"
                raise DataError(path, what, _row_line(text, r))
        inf = np.isinf(arr).any(1)
        if inf.any():
            raise DataError(path, "infinite value", _row_line(text, int(np.argmax(inf))))
        if check_boxes and arr.shape[1] >= 4:
            neg = (arr[:, 2:4] < 0).any(1)
            if neg.any():
                r = int(np.argmax(neg))
                raise DataError(path, f"negative box size w, h = {arr[r, 2]:g}, {arr[r, 3]:g}", _row_line(text, r))
    return arr


def read_flags(path: str | Path, length: int | None, max_value: int | None = None) -> np.ndarray:
    """Parse a per-frame integer label file (one value per line, or one comma-separated line).

    Raises DataError when a value is not a non-negative integer (or above ``max_value``)
    or when the number of values differs from ``length`` (the sequence length).
    """
    path = Path(path)
    text = read_text(path)
    try:
        vals = np.array(text.replace(",", " ").split(), dtype=np.float64)
    except ValueError:
        vals = None
    bad = None if vals is None else (~np.isfinite(vals)) | (vals != np.round(vals)) | (vals < 0)
    if max_value is not None and bad is not None:
        bad |= vals > max_value
    if vals is None or bad.any():
        # Locate the first bad token: walk lines, then tokens.
        for lineno, ln in _data_lines(text):
            for t in _split(ln, "auto"):
                try:
                    v = float(t)
                    ok = np.isfinite(v) and v == round(v) and v >= 0 and (max_value is None or v <= max_value)
                except ValueError:
                    ok = False
                if not ok:
                    rng = "" if max_value is None else f" in 0..{max_value}"
                    raise DataError(path, f"value {t!r} is not an integer{rng}", lineno)
        raise DataError(path, "cannot be parsed as integer labels")  # pragma: no cover
    if length is not None and len(vals) != length:
        line = None
        if len(vals) > length:  # name the line holding the first surplus value
            seen = 0
            for lineno, ln in _data_lines(text):
                seen += len(_split(ln, "auto"))
                if seen > length:
                    line = lineno
                    break
        raise DataError(path, f"has {len(vals)} labels but the sequence has {length} frames", line)
    return vals.astype(np.int64)


def count_files(folder: Path, suffix: str) -> int:
    """Number of files ending in ``suffix`` in ``folder`` (one scandir, no stat)."""
    try:
        with os.scandir(folder) as it:
            return sum(1 for e in it if e.name.endswith(suffix))
    except FileNotFoundError:
        raise DataError(folder, "frame folder is missing") from None
    except NotADirectoryError:
        raise DataError(folder, "frame folder is not a directory") from None


def numbered_files(folder: Path, exts: tuple[str, ...] = (".jpg", ".png")) -> tuple[dict[int, str], int]:
    """Map frame number -> file name for files named ``<digits>.<ext>``; also the digit
    count of the names (their zero padding)."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        raise DataError(folder, "frame folder is missing") from None
    out: dict[int, str] = {}
    width = 0
    for n in names:
        stem, ext = os.path.splitext(n)
        if ext.lower() in exts and stem.isdigit():
            out[int(stem)] = n
            width = max(width, len(stem))
    return out, width


def read_list(path: str | Path) -> list[tuple[int, str]]:
    """(1-based line, name) of every name listed one per line (blank lines ignored)."""
    path = Path(path)
    return [(lineno, ln.strip()) for lineno, ln in _data_lines(read_text(path))]


def check_listed(list_path: Path, entries: list[tuple[int, str]], locate: Callable[[str], Path]) -> None:
    """Every listed name must exist: ``locate(name)`` is the file it needs."""
    for lineno, name in entries:
        want = locate(name)
        if not want.is_file():
            raise DataError(list_path, f"lists {name!r} but {want} does not exist", lineno)
