"""TrackingNet: ``root/TEST/`` and ``root/TRAIN_0 .. TRAIN_11/`` chunks.

A chunk holds ``frames/<video>/0.jpg, 1.jpg ...`` (0-based, unpadded) and
``anno/<video>.txt`` (comma x, y, w, h; TEST gives frame 0 only).
"""
from __future__ import annotations

import re
from pathlib import Path

from trackkit.data.readers.common import count_files, read_table
from trackkit.data.sequence import Dataset, ImageFiles, Sequence
from trackkit.errors import DataError

_CHUNK = re.compile(r"^(TEST|TRAIN_\d+)$")


def _is_chunk(p: Path) -> bool:
    return (p / "anno").is_dir() and (p / "frames").is_dir()


def read_chunk(chunk: Path, check_frames: bool = True) -> list[Sequence]:
    test = chunk.name.upper() == "TEST"
    seqs = []
    for gt in sorted((chunk / "anno").glob("*.txt")):
        boxes = read_table(gt, ncols=4, delimiter=",")
        frame_dir = chunk / "frames" / gt.stem
        # TEST gives one box, so its frames must be counted; TRAIN only when checking.
        n = count_files(frame_dir, ".jpg") if test or check_frames else len(boxes)
        if len(boxes) != n and not (test and len(boxes) == 1):
            want = "1 box (TEST) or one per frame" if test else "one box per frame"
            raise DataError(gt, f"has {len(boxes)} boxes but {frame_dir} holds {n} frames ({want})")
        frames = ImageFiles([frame_dir / f"{i}.jpg" for i in range(n)])
        seqs.append(Sequence(gt.stem, frames, boxes, {}, {"chunk": chunk.name}, dataset="trackingnet"))
    return seqs


def detect(path: Path) -> bool:
    return _is_chunk(path) or any(_CHUNK.match(p.name) and _is_chunk(p) for p in path.iterdir())


def read(path: str | Path, split: str | None = None, check_frames: bool = True) -> Dataset:
    """Read TrackingNet.

    Args:
        path: the root holding the chunks, or one chunk folder.
        split: ``test`` (``TEST``), ``train`` (every ``TRAIN_k`` present), a chunk name
            (``TRAIN_3``) or None (a chunk folder: itself; a root: ``test``).
        check_frames: count TRAIN frames against the annotation (TEST is always counted).
    """
    root = Path(path)
    if _is_chunk(root) and not any(_CHUNK.match(p.name) for p in root.iterdir()):
        chunks = [root]
        split = split or ("test" if root.name.upper() == "TEST" else root.name)
        root = root.parent
    else:
        split = split or "test"
        present = sorted((p for p in root.iterdir() if _CHUNK.match(p.name) and _is_chunk(p)),
                         key=lambda p: (p.name != "TEST", int(p.name[6:]) if p.name.startswith("TRAIN_") else 0))
        if split == "test":
            chunks = [p for p in present if p.name == "TEST"]
        elif split == "train":
            chunks = [p for p in present if p.name.startswith("TRAIN_")]
        else:
            chunks = [p for p in present if p.name == split]
        if not chunks:
            raise DataError(root, f"no TrackingNet chunk for split {split!r} (found {[p.name for p in present]}; each needs anno/ and frames/)")
    seqs = [s for c in chunks for s in read_chunk(c, check_frames)]
    return Dataset(seqs, name="trackingnet", root=root, split=split)
