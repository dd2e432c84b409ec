"""GOT-10k: ``root/{train,val,test}/list.txt`` and one folder per sequence.

A sequence folder holds ``00000001.jpg ...`` (1-based, 8 digits), ``groundtruth.txt``
(comma-separated x, y, w, h; the test split gives the first box only), and in train/val
``absence.label`` (0/1), ``cover.label`` (0..8, visible eighths), ``cut_by_image.label``
(0/1) and ``meta_info.ini`` (``[METAINFO]`` then ``key: value`` lines).

Labels are required in train/val because GOT-10k scoring drops ``cover == 0`` frames:
a silently missing ``cover.label`` would change the score. ``meta_info.ini`` is optional
(attributes are facts for analysis, not for scoring).
"""
from __future__ import annotations

import configparser
import re
from pathlib import Path

from trackkit.data.readers.common import (NumberedImageFiles, check_listed, count_files, fast_flags, fast_tables,
                                          read_flags, read_list, read_table, read_text)
from trackkit.data.sequence import Dataset, Sequence
from trackkit.errors import DataError

SPLITS = ("train", "val", "test")
LABELS = {"cover": 8, "absence": 1, "cut_by_image": 1}  # label name -> largest allowed value
_RES = re.compile(r"^\(?\s*(\d+)\s*[, ]\s*(\d+)\s*\)?$")


def _plain_meta(text: str) -> dict | None:
    """The pairs of a plain meta_info.ini -- one ``[section]`` line first, then unindented
    ``key: value`` lines -- exactly as configparser reads them, ~20x faster; None for
    anything else (comments, continuation lines, more sections ...): configparser decides."""
    lines = [ln for ln in text.split("\n") if ln.strip()]  # configparser splits on \n only
    if not lines or not (lines[0].startswith("[") and lines[0].rstrip().endswith("]")) \
            or lines[0].strip() == "[DEFAULT]" or len(lines[0].strip()) < 3:
        return None
    meta = {}
    for ln in lines[1:]:
        key, colon, value = ln.partition(":")
        key = key.rstrip()
        if not colon or not key or ln[0].isspace() or ln[0] in "[#;":
            return None
        meta[key] = value.strip()
    return meta


def read_meta(path: Path) -> dict:
    """All ``key: value`` pairs of ``meta_info.ini``; ``resolution`` parsed to (W, H) ints."""
    text = read_text(path)
    meta = _plain_meta(text)
    if meta is None:
        meta = _configparser_meta(path, text)
    if "resolution" in meta:
        m = _RES.match(meta["resolution"])
        if not m:
            lineno = next((i + 1 for i, ln in enumerate(text.splitlines()) if ln.strip().startswith("resolution")), None)
            raise DataError(path, f"resolution {meta['resolution']!r} is not '(W, H)'", lineno)
        meta["resolution"] = (int(m.group(1)), int(m.group(2)))
    return meta


def _configparser_meta(path: Path, text: str) -> dict:
    # Raw parser: URLs may hold '%', keys keep their case.
    cp = configparser.RawConfigParser(strict=False, delimiters=(":",))
    cp.optionxform = str
    try:
        cp.read_string(text, source=str(path))
    except configparser.MissingSectionHeaderError as e:
        raise DataError(path, f"expected a '[METAINFO]' header before {e.line.strip()!r}", e.lineno) from None
    except configparser.ParsingError as e:
        lineno, line = e.errors[0]
        raise DataError(path, f"not a 'key: value' line: {line.strip()!r}", lineno) from None
    except configparser.Error as e:
        raise DataError(path, f"cannot be parsed ({e.message.splitlines()[0]})", getattr(e, "lineno", None)) from None
    return {k: v.strip() for s in cp.sections() for k, v in cp.items(s)}


def read_sequence(seq_dir: Path, split: str, check_frames: bool = True, boxes=None, labels=None) -> Sequence:
    """One GOT-10k sequence folder.

    ``boxes`` / ``labels`` (name -> array or None) are values already parsed by the batched
    fast path of :func:`read`; whatever is None is read (and checked) here, file by file.
    """
    gt_path = seq_dir / "groundtruth.txt"
    if boxes is None:
        boxes = read_table(gt_path, ncols=4, delimiter=",")
    n_gt = len(boxes)
    if split == "test" or check_frames:
        n = count_files(seq_dir, ".jpg")
    else:
        n = n_gt
    if split == "test":
        if n_gt not in (1, n):
            raise DataError(gt_path, f"test split: expected the first box only (or one per frame), found {n_gt} boxes for {n} frames")
    elif n_gt != n:
        raise DataError(gt_path, f"has {n_gt} boxes but {seq_dir} holds {n} frames")
    pre = labels or {}
    labels = {}
    if split != "test":
        for name, top in LABELS.items():
            v = pre.get(name)
            if v is None or len(v) != n:  # not pre-parsed, or the length error to explain
                v = read_flags(seq_dir / f"{name}.label", n, max_value=top)
            labels[name] = v
    meta_path = seq_dir / "meta_info.ini"
    attributes = read_meta(meta_path) if meta_path.is_file() else {}
    frames = NumberedImageFiles(seq_dir, n, "{:08d}.jpg", start=1)  # paths made on access
    return Sequence(seq_dir.name, frames, boxes, labels, attributes, dataset="got10k")


def detect(path: Path) -> bool:
    return (path / "list.txt").is_file() or any((path / s / "list.txt").is_file() for s in SPLITS)


def read(path: str | Path, split: str | None = None, check_frames: bool = True) -> Dataset:
    """Read a GOT-10k split.

    Args:
        path: a split folder (holding ``list.txt``) or the root holding ``train/ val/ test/``.
        split: ``train``, ``val`` or ``test``. With a split folder, taken from its name when
            None (a folder named otherwise is read as ``val``: full annotations, labels).
            With a root, required unless only one split is present.
        check_frames: count the frame files of every sequence against ``groundtruth.txt``
            (one directory scan per sequence). The test split always counts.
    """
    path = Path(path)
    if (path / "list.txt").is_file():
        split_dir = path
        if split is None:
            split = path.name.lower() if path.name.lower() in SPLITS else "val"
        root = path.parent
    else:
        present = [s for s in SPLITS if (path / s / "list.txt").is_file()]
        if split is None:
            if len(present) != 1:
                raise DataError(path, f"GOT-10k root with splits {present}: pass split= one of them")
            split = present[0]
        split_dir = path / split
        root = path
    if split not in SPLITS:
        raise DataError(path, f"unknown GOT-10k split {split!r}; expected one of {SPLITS}")
    list_path = split_dir / "list.txt"
    if not list_path.is_file():
        raise DataError(list_path, "file is missing (expected the split's sequence list)")
    entries = read_list(list_path)
    check_listed(list_path, entries, lambda n: split_dir / n / "groundtruth.txt")
    dirs = [split_dir / n for _, n in entries]
    # Batched fast parse of every groundtruth / label file (one call each instead of one per
    # file); files it cannot vouch for come back None and read_sequence reads them one by one,
    # in the same order as before, so errors are the same.
    boxes = fast_tables([d / "groundtruth.txt" for d in dirs], 4, ",")
    labels = [{} for _ in dirs]
    if split != "test":
        for name, top in LABELS.items():
            for lab, v in zip(labels, fast_flags([d / f"{name}.label" for d in dirs], max_value=top)):
                lab[name] = v
    seqs = [read_sequence(d, split, check_frames, b, lab) for d, b, lab in zip(dirs, boxes, labels)]
    return Dataset(seqs, name="got10k", root=root, split=split)
