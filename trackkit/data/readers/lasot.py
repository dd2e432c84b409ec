"""LaSOT: ``root/<class>/<class>-<n>/``.

Each sequence folder holds ``img/00000001.jpg ...`` (1-based, 8 digits), ``groundtruth.txt``
(comma x, y, w, h), ``full_occlusion.txt`` and ``out_of_view.txt`` (one comma-separated line
of 0/1 per frame) and ``nlp.txt`` (a sentence). The 280-sequence test split is listed in
``root/testing_set.txt`` (one ``<class>-<n>`` per line); ``training_set.txt`` likewise.
"""
from __future__ import annotations

from pathlib import Path

from trackkit.data.readers.common import check_listed, count_files, read_flags, read_list, read_table
from trackkit.data.sequence import Dataset, ImageFiles, Sequence
from trackkit.errors import DataError

SPLIT_FILES = {"test": "testing_set.txt", "train": "training_set.txt"}
LABELS = ("full_occlusion", "out_of_view")


def class_of(name: str) -> str:
    """``airplane-13`` -> ``airplane`` (class names never hold '-' before the index)."""
    return name.rsplit("-", 1)[0]


def read_sequence(seq_dir: Path, check_frames: bool = True) -> Sequence:
    gt_path = seq_dir / "groundtruth.txt"
    boxes = read_table(gt_path, ncols=4, delimiter=",")
    n = len(boxes)
    if check_frames:
        n_img = count_files(seq_dir / "img", ".jpg")
        if n_img != n:
            raise DataError(gt_path, f"has {n} boxes but {seq_dir / 'img'} holds {n_img} frames")
    labels = {name: read_flags(seq_dir / f"{name}.txt", n, max_value=1) for name in LABELS}
    nlp_path = seq_dir / "nlp.txt"
    attributes = {"class": class_of(seq_dir.name)}
    if nlp_path.is_file():
        attributes["nlp"] = nlp_path.read_text().strip()
    frames = ImageFiles([seq_dir / "img" / f"{i:08d}.jpg" for i in range(1, n + 1)])
    return Sequence(seq_dir.name, frames, boxes, labels, attributes, dataset="lasot")


def _index(name: str) -> tuple[int, str]:
    """Sort key: ``cat-2`` before ``cat-10``."""
    idx = name.rsplit("-", 1)[-1]
    return (int(idx), "") if idx.isdigit() else (0, idx)


def _all_sequences(root: Path) -> list[str]:
    names = []
    for cls in sorted(p for p in root.iterdir() if p.is_dir()):
        names += sorted((s.name for s in cls.iterdir() if (s / "groundtruth.txt").is_file()), key=_index)
    return names


def detect(path: Path) -> bool:
    if (path / "testing_set.txt").is_file():
        return True
    # Look at a few class folders only: a LaSOT root holds 70 of them.
    classes = [p for p in sorted(path.iterdir()) if p.is_dir() and not p.name.startswith(".")][:3]
    return any(
        s.name.startswith(cls.name + "-") and (s / "groundtruth.txt").is_file() and (s / "img").is_dir()
        for cls in classes for s in cls.iterdir()
    )


def read(path: str | Path, split: str | None = None, check_frames: bool = True) -> Dataset:
    """Read LaSOT.

    Args:
        path: the root holding the class folders.
        split: ``test`` (``testing_set.txt``), ``train`` (``training_set.txt``, or every
            sequence not in the test list when that file is absent) or None (all sequences).
        check_frames: count the frames in ``img/`` against ``groundtruth.txt``.
    """
    root = Path(path)
    if split is None:
        names = _all_sequences(root)
    elif split in SPLIT_FILES:
        list_path = root / SPLIT_FILES[split]
        if list_path.is_file():
            entries = read_list(list_path)
            check_listed(list_path, entries, lambda n: root / class_of(n) / n / "groundtruth.txt")
            names = [n for _, n in entries]
        elif split == "train" and (root / SPLIT_FILES["test"]).is_file():
            test = {n for _, n in read_list(root / SPLIT_FILES["test"])}
            names = [n for n in _all_sequences(root) if n not in test]
        else:
            raise DataError(list_path, f"file is missing (needed for the LaSOT {split} split)")
    else:
        raise DataError(root, f"unknown LaSOT split {split!r}; expected 'train', 'test' or None")
    seqs = [read_sequence(root / class_of(n) / n, check_frames) for n in names]
    return Dataset(seqs, name="lasot", root=root, split=split)
