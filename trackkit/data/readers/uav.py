"""UAV123: ``root/data_seq/UAV123/<folder>/000001.jpg`` and ``root/anno/UAV123/<seq>.txt``.

Annotations are comma-separated x, y, w, h with all-NaN rows where the target is absent
(kept as NaN; :attr:`Sequence.visible` is False there).

Several UAV123 sequences are sub-sequences of one long video: ``bird1_2`` is frames
775..1477 of folder ``bird1``. The frame range of each sequence comes from a ranges table
``{seq: (folder, start_frame, end_frame)}`` (frames 1-based, end inclusive). This module does
not ship that table; by default it reads the one distributed with the ``got10k`` toolkit
(``got10k/datasets/uav123.json``, the same numbers as pytracking's ``uavdataset.py``) when
that package is installed. Otherwise pass ``ranges=``; without it, a sequence whose name is
also a frame folder is read as frames ``1..len(annotation)`` and any other raises.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from trackkit.data.readers.common import count_files, read_table
from trackkit.data.sequence import Dataset, ImageFiles, Sequence
from trackkit.errors import DataError

Ranges = Mapping[str, tuple[str, int, int]]


def toolkit_ranges(version: str = "UAV123") -> Ranges | None:
    """The got10k toolkit's sub-sequence table, or None when the package is absent."""
    import importlib.util

    # Locate the file without importing got10k.datasets (its __init__ pulls optional deps).
    spec = importlib.util.find_spec("got10k")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "uav123.json"
    if not path.is_file():
        return None
    table = json.loads(path.read_text())
    return {k: (v["folder_name"], int(v["start_frame"]), int(v["end_frame"])) for k, v in table.get(version, {}).items()}


def detect(path: Path) -> bool:
    return (path / "anno").is_dir() and (path / "data_seq").is_dir()


def read(path: str | Path, split: str | None = None, version: str = "UAV123", ranges: Ranges | None = None,
         check_frames: bool = True) -> Dataset:
    """Read UAV123 (``version="UAV20L"`` for the long-term subset, whose frames also live
    in ``data_seq/UAV123``).

    Args:
        ranges: ``{seq: (folder, start, end)}``; None: the got10k toolkit's table if
            installed, else whole folders named like the sequence.
        check_frames: count each frame folder against the ranges (one scan per sequence).
    """
    root = Path(path)
    if split not in (None, "test"):
        raise DataError(root, f"UAV123 has no split {split!r}")
    anno_dir = root / "anno" / version
    if not anno_dir.is_dir():
        raise DataError(anno_dir, f"annotation folder is missing (expected anno/{version}/<seq>.txt)")
    if ranges is None:
        ranges = toolkit_ranges(version) or {}
    seqs = []
    for gt in sorted(anno_dir.glob("*.txt")):
        name = gt.stem
        boxes = read_table(gt, ncols=4, delimiter=",", allow_nan=True)
        if name in ranges:
            folder, start, end = ranges[name]
            if end - start + 1 != len(boxes):
                raise DataError(gt, f"has {len(boxes)} boxes but the range of {name} is frames {start}..{end} ({end - start + 1} frames)")
        elif (root / "data_seq" / "UAV123" / name).is_dir():
            folder, start, end = name, 1, len(boxes)
        else:
            raise DataError(gt, f"no frame range known for {name!r} and no folder data_seq/UAV123/{name}: pass ranges=")
        frame_dir = root / "data_seq" / "UAV123" / folder
        if check_frames:
            n_img = count_files(frame_dir, ".jpg")  # also raises when the folder is missing
            if end > n_img or (name not in ranges and n_img != end):
                raise DataError(gt, f"{name} spans frames {start}..{end} but {frame_dir} holds {n_img} frames")
        frames = ImageFiles([frame_dir / f"{i:06d}.jpg" for i in range(start, end + 1)])
        attrs = {"folder": folder, "start_frame": start, "end_frame": end}
        seqs.append(Sequence(name, frames, boxes, {}, attrs, dataset="uav"))
    return Dataset(seqs, name="uav", root=root, split=split)
