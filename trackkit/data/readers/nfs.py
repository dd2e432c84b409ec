"""NfS (Need for Speed), 30 fps: ``root/<seq>/30/<seq>/00001.jpg`` and ``root/<seq>/30/<seq>.txt``.

Two annotation forms are read, told apart by their column count:

* 4 columns (pytracking's converted files, tab-separated): x, y, w, h;
* the raw NfS files: ``id xmin ymin xmax ymax ...`` with trailing columns that may hold text
  (the got10k toolkit reads columns 1..4 as left, top, right, bottom); converted to
  x, y, w = xmax - xmin, h = ymax - ymin (no +1, as the toolkit does).

Some raw 30 fps annotation files list the 240 fps frames. With ``fix_rate=True`` the got10k
toolkit's rule is applied (keep every 8th row when there are about 8x too many rows, then
trim a one-frame surplus on either side); by default any length mismatch is an error.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from trackkit.data.readers.common import read_text, count_files, read_table
from trackkit.data.sequence import Dataset, ImageFiles, Sequence
from trackkit.errors import DataError

FPS = 30


def read_boxes(path: Path) -> np.ndarray:
    first = next((ln for ln in read_text(path).splitlines() if ln.strip()), "")
    if len(first.split()) == 4 or len(first.split(",")) == 4:
        return read_table(path, ncols=4, delimiter="auto")
    ltrb = read_table(path, delimiter=None, usecols=(1, 2, 3, 4), check_boxes=False)
    boxes = np.concatenate([ltrb[:, :2], ltrb[:, 2:] - ltrb[:, :2]], axis=1)
    neg = (boxes[:, 2:] < 0).any(1)
    if neg.any():
        r = int(np.argmax(neg))
        raise DataError(path, f"xmax < xmin or ymax < ymin in data row {r + 1}")
    return boxes


def read_sequence(seq_dir: Path, fix_rate: bool = False, check_frames: bool = True) -> Sequence:
    name = seq_dir.name
    gt = seq_dir / str(FPS) / f"{name}.txt"
    frame_dir = seq_dir / str(FPS) / name
    boxes = read_boxes(gt)
    n = count_files(frame_dir, ".jpg") if check_frames or fix_rate else len(boxes)
    if fix_rate and n and len(boxes) != n:
        if abs(len(boxes) / n - 8) < 1:
            boxes = boxes[::8]
        if abs(len(boxes) - n) <= 1:
            n = min(n, len(boxes))
            boxes = boxes[:n]
    if len(boxes) != n:
        raise DataError(gt, f"has {len(boxes)} boxes but {frame_dir} holds {n} frames")
    frames = ImageFiles([frame_dir / f"{i:05d}.jpg" for i in range(1, n + 1)])
    return Sequence(name, frames, boxes, {}, {"fps": FPS}, dataset="nfs")


def detect(path: Path) -> bool:
    return any((d / str(FPS) / d.name).is_dir() for d in path.iterdir() if d.is_dir())


def read(path: str | Path, split: str | None = None, fix_rate: bool = False, check_frames: bool = True) -> Dataset:
    """Read every NfS sequence under ``path`` that has a 30 fps folder.

    ``check_frames``: count the frames against the annotation (always done with ``fix_rate``).
    """
    root = Path(path)
    if split not in (None, "test"):
        raise DataError(root, f"NfS has no split {split!r}")
    dirs = sorted(d for d in root.iterdir() if (d / str(FPS) / d.name).is_dir())
    return Dataset([read_sequence(d, fix_rate, check_frames) for d in dirs], name="nfs", root=root, split=split)
