"""Table parsing and folder helpers shared by the dataset readers and the result readers.

Annotation files are parsed in one vectorized ``numpy.loadtxt`` call. Only when that fails
(or a value check fails) do we walk the file line by line, and then only to name the first
bad line in the :class:`~trackkit.errors.DataError`, so a user can open the file at it.

Many files at once (a split's ground truth, a tracker's results): :func:`parse_files` parses
all of them in one batched pyarrow call, with the per-file readers as the exact fallback
(:func:`read_tables`, :func:`read_flags_many`, :func:`fast_tables`, :func:`fast_flags`).
"""
from __future__ import annotations

import io
import os
import re
from collections.abc import Sequence as _Sequence
from pathlib import Path
from typing import Callable

import numpy as np

from trackkit.data.sequence import ImageFiles
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


# ----------------------------------------------------------------------------- batched fast path
# Parsing thousands of small files one call each costs ~0.3 ms of CPU per file (pandas /
# numpy set-up; ~1 ms of wall time on a busy machine), more than the parsing. The fast path
# reads the bytes of every file, concatenates them and parses them in ONE pyarrow.csv call
# (multithreaded C++; its float conversion is fast_float, correctly rounded, so every value
# has the bits that float(token) and np.loadtxt give). It only vouches for files in a strict
# form: every line holds exactly ``ncols`` finite decimals separated by ``delimiter``.
# Anything else (blank lines, other separators, text, NaN, inf, a bare CR ...) comes back as
# None and the caller runs its exact per-file parser, which accepts it or names the file,
# line and problem.
_BOM = b"\xef\xbb\xbf"
_DELIMITERS = (",", "\t", " ", ";", "|")  # never part of a number, never a line break or quote


def _pack(sizes: list[int], fill: Callable[[int, memoryview], int | None],
          classify: Callable[[bytes], tuple | None]) -> dict[tuple, tuple]:
    """Copy every source back to back into one buffer, cleaning each in place.

    ``fill(i, view)`` writes source ``i`` at the start of ``view`` (room for ``sizes[i] + 1``
    bytes) and returns its length (None: unreadable). Each source ends up as newline-
    terminated lines with trailing blank lines dropped (every per-file parser ignores them);
    ``classify(first_line)`` gives its group key ``(delimiter, ncols)`` or None. Sources the
    fast path must not try are skipped (the caller's parser takes them).

    Returns ``{key: (data, [(i, start, end, lines), ...])}`` with each group's sources
    contiguous in ``data``. One buffer, no copy per file: the per-file copies and the join
    cost more (memory faults) than the reads themselves.
    """
    buf = bytearray(sum(max(n, 0) for n in sizes) + len(sizes))
    view = memoryview(buf)
    groups: dict[tuple, list] = {}
    side: dict[tuple, list[bytes]] = {}  # rare: sources of a second group, copied out
    main, off = None, 0
    for i, size in enumerate(sizes):
        if size < 0:
            continue
        got = fill(i, view[off: off + size + 1])
        if got is None or got > size:  # unreadable, or grew since its size was taken
            continue
        end = _clean_span(buf, off, off + got)
        if end < 0:
            continue
        key = classify(bytes(buf[off: buf.find(b"\n", off, end)]))
        if key is None:
            continue
        lines = buf.count(b"\n", off, end)
        if main is None:
            main = key
        if key == main:
            groups.setdefault(key, []).append((i, off, end, lines))
            off = end
        else:
            at = sum(len(b) for b in side.get(key, []))
            side.setdefault(key, []).append(bytes(buf[off:end]))
            groups.setdefault(key, []).append((i, at, at + end - off, lines))
    return {k: (view[:off] if k == main else b"".join(side[k]), items) for k, items in groups.items()}


def _clean_span(buf: bytearray, start: int, end: int) -> int:
    """Clean ``buf[start:end]`` in place; its new end (after a final newline), or -1 when the
    fast path must not try it."""
    if buf.startswith(_BOM, start, end):  # read_text drops it too (utf-8-sig)
        buf[start: end - 3] = buf[start + 3: end]
        end -= 3
    tail = bytes(buf[max(start, end - 64): end])
    kept = tail.rstrip(b" \t\r\n")
    if not kept:  # blank, or a long blank tail: the per-file parser decides
        return -1
    end -= len(tail) - len(kept)
    if buf.find(b"\r", start, end) >= 0 and buf.count(b"\r", start, end) != buf.count(b"\r\n", start, end):
        return -1  # a bare CR is a line break to arrow: the per-line counts would not match
    buf[end] = 10  # the room of the stripped byte, or of the one spare byte per source
    return end + 1


def _file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


def _read_into(path: Path, view: memoryview) -> int | None:
    try:
        with open(path, "rb", buffering=0) as fh:
            n, total = 1, 0
            while n and total < len(view):  # readinto may return short counts
                n = fh.readinto(view[total:])
                total += n or 0
            return total
    except OSError:
        return None


def parse_files(paths: list[Path], classify: Callable[[bytes], tuple[str, int] | None],
                use_threads: bool = True) -> list[np.ndarray | None]:
    """Read and parse many files, one batched parse per ``(delimiter, ncols)`` group.

    Args:
        paths: the files.
        classify: ``first_line -> (delimiter, ncols)`` (the file's format, as its per-file
            reader would detect it), or None to leave the file to that reader. Delimiters
            other than ``, \\t space ; |`` send the file to that reader too.
        use_threads: let arrow parse blocks on every core.

    Returns:
        per file, a ``(lines, ncols)`` float64 array (views into one shared array per group),
        or None where the file is not strictly ``ncols`` finite decimals per line (or is
        missing): the caller must then read it with its exact (explaining) parser.
    """
    paths = [Path(p) for p in paths]
    groups = _pack([_file_size(p) for p in paths], lambda i, view: _read_into(paths[i], view), classify)
    out: list[np.ndarray | None] = [None] * len(paths)
    for (delimiter, ncols), (data, items) in groups.items():
        if ncols >= 1 and delimiter in _DELIMITERS:
            _parse_group(data, items, ncols, delimiter, use_threads, out)
    return out


def parse_tables(blobs: list[bytes | None], ncols: int, delimiter: str = ",",
                 use_threads: bool = True) -> list[np.ndarray | None]:
    """:func:`parse_files` for contents already in memory, all of one format.

    Args:
        blobs: file contents (None: unreadable).
        ncols: values per line.
        delimiter: one of ``, \\t space ; |`` between values (spaces and tabs around values
            are allowed); another delimiter sends every blob to the caller's parser.
        use_threads: let arrow parse blocks on every core.
    """
    def fill(i, view):
        view[: len(blobs[i])] = blobs[i]
        return len(blobs[i])

    groups = _pack([-1 if b is None else len(b) for b in blobs], fill, lambda first: (delimiter, ncols))
    out: list[np.ndarray | None] = [None] * len(blobs)
    if ncols >= 1 and delimiter in _DELIMITERS:
        for data, items in groups.values():
            _parse_group(data, items, ncols, delimiter, use_threads, out)
    return out


def _parse_group(data, items, ncols, delimiter, use_threads, out) -> None:
    """Parse the contiguous sources ``items`` of ``data`` together; when arrow rejects the
    batch, bisect so that one bad file costs ~log2(files) extra parses, not the fast path."""
    lo, hi = items[0][1], items[-1][2]
    arr = _arrow_parse(data[lo:hi], ncols, delimiter, use_threads)
    counts = [it[3] for it in items]
    if arr is None or len(arr) != sum(counts):
        if len(items) > 1:
            half = len(items) // 2
            _parse_group(data, items[:half], ncols, delimiter, use_threads, out)
            _parse_group(data, items[half:], ncols, delimiter, use_threads, out)
        return
    ends = np.cumsum(counts)
    bad_files: set[int] = set()
    # One sum tells whether any NaN / inf came through (an overflowing sum of finite values
    # only costs a row scan); such files go to the exact parser, which knows whether NaN is legal.
    with np.errstate(over="ignore", invalid="ignore"):
        finite = np.isfinite(arr.sum())
    if not finite:
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        bad_files = set(np.searchsorted(ends, bad, side="right").tolist())
    start = 0
    for k, (it, end) in enumerate(zip(items, ends.tolist())):
        if k not in bad_files:
            out[it[0]] = arr[start:end]
        start = end


def _arrow_parse(data: bytes, ncols: int, delimiter: str, use_threads: bool) -> np.ndarray | None:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = [f"c{j}" for j in range(ncols)]
    try:
        table = pcsv.read_csv(
            pa.py_buffer(data),
            read_options=pcsv.ReadOptions(column_names=names, use_threads=use_threads,
                                          # a few blocks per core, so threads have work to share
                                          block_size=max(1 << 20, len(data) // 8)),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, quote_char=False, double_quote=False,
                                            escape_char=False, newlines_in_values=False,
                                            ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(column_types={n: pa.float64() for n in names}, null_values=[],
                                                strings_can_be_null=False, quoted_strings_can_be_null=False,
                                                check_utf8=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_columns != ncols:  # pragma: no cover - arrow rejects rows of another width
        return None
    arr = np.empty((table.num_rows, ncols), dtype=np.float64)
    for j, col in enumerate(table.columns):
        start = 0
        for chunk in col.chunks:
            if chunk.null_count:  # pragma: no cover - null_values=[] makes no nulls
                return None
            arr[start:start + len(chunk), j] = chunk.to_numpy(zero_copy_only=False)
            start += len(chunk)
    return arr


def fast_tables(paths: list[Path], ncols: int = 4, delimiter: str = ",", check_boxes: bool = True,
                min_rows: int = 1) -> list[np.ndarray | None]:
    """Batched parse of many :func:`read_table` files; None for each file that must go through
    :func:`read_table` itself (not in the strict form, or failing one of its checks)."""
    fast = parse_files(paths, lambda first: (delimiter, ncols))
    for k, arr in enumerate(fast):
        if arr is not None and (len(arr) < min_rows or (check_boxes and ncols >= 4 and (arr[:, 2:4] < 0).any())):
            fast[k] = None
    return fast


def read_tables(paths: list[Path], ncols: int = 4, delimiter: str = ",", allow_nan: bool = False,
                check_boxes: bool = True, min_rows: int = 1) -> list[np.ndarray]:
    """:func:`read_table` over many files with one batched parse: same values, same errors
    (a file the fast path cannot vouch for is read, or explained, by :func:`read_table`)."""
    fast = fast_tables(paths, ncols, delimiter, check_boxes, min_rows)
    return [a if a is not None else read_table(p, ncols, delimiter, allow_nan, check_boxes, min_rows)
            for p, a in zip(paths, fast)]


def fast_flags(paths: list[Path], max_value: int | None = None) -> list[np.ndarray | None]:
    """Batched parse of many one-value-per-line :func:`read_flags` files (int64, lengths not
    checked); None for each file that must go through :func:`read_flags` itself."""
    out: list[np.ndarray | None] = []
    for arr in parse_files(paths, lambda first: (",", 1)):
        v = None if arr is None else arr[:, 0]
        ok = v is not None and bool(((v >= 0) & (v == np.round(v))).all())
        if ok and max_value is not None:
            ok = bool((v <= max_value).all())
        out.append(v.astype(np.int64) if ok else None)
    return out


def read_flags_many(paths: list[Path], lengths: list[int | None], max_value: int | None = None) -> list[np.ndarray]:
    """:func:`read_flags` over many files with one batched parse (same values, same errors)."""
    return [a if a is not None and (n is None or len(a) == n) else read_flags(p, n, max_value)
            for p, n, a in zip(paths, lengths, fast_flags(paths, max_value))]


# ----------------------------------------------------------------------------- lazy frame paths
class NumberedPaths(_Sequence):
    """``folder / fmt.format(start + i)`` for ``i < n``, each made when asked for.

    A list of Path objects costs ~10 us per frame (seconds for a split of 10^5+ frames, more
    than parsing every annotation); this behaves like that list (index, slice, iterate, ==).
    """

    def __init__(self, folder: str | Path, n: int, fmt: str = "{:08d}.jpg", start: int = 1):
        self.folder, self.n, self.fmt, self.start = Path(folder), int(n), fmt, start

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        i = int(i)  # numpy integers too
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(f"frame {i} of {self.n}")
        return self.folder / self.fmt.format(self.start + i)

    def __eq__(self, other):
        if isinstance(other, NumberedPaths):
            return (self.folder, self.n, self.fmt, self.start) == (other.folder, other.n, other.fmt, other.start)
        return list(self) == list(other) if isinstance(other, _Sequence) else NotImplemented

    __hash__ = None  # mutable-sequence semantics, like the list it stands for

    def __repr__(self) -> str:
        return f"NumberedPaths({str(self.folder)!r}, {self.n}, {self.fmt!r}, start={self.start})"


class NumberedImageFiles(ImageFiles):
    """:class:`~trackkit.data.ImageFiles` over :class:`NumberedPaths` (no list of paths built)."""

    def __init__(self, folder: str | Path, n: int, fmt: str = "{:08d}.jpg", start: int = 1):
        self.paths = NumberedPaths(folder, n, fmt, start)
