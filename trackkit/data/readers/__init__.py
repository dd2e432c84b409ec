"""Readers for the standard tracking benchmarks, all returning :class:`~trackkit.data.Dataset`.

``load_dataset(path)`` tells the layout from the folder; each module also exposes
``read(path, split=None, ...)`` with layout-specific options. Frames are lazy
(:class:`~trackkit.data.ImageFiles`); boxes are float64 x, y, w, h in pixels exactly as the
files give them (no loader shifts coordinates); malformed input raises
:class:`~trackkit.errors.DataError` naming the file, the 1-based line and the problem.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable

from trackkit.data.readers import got10k, lasot, nfs, otb, trackingnet, uav
from trackkit.data.sequence import Dataset
from trackkit.errors import ConfigError, DataError

# Name -> module. Detection runs in this order: the most specific signatures first
# (list.txt, anno/+frames/, anno/+data_seq/), folder-shape guesses last.
LAYOUTS = {
    "got10k": got10k,
    "trackingnet": trackingnet,
    "uav": uav,
    "lasot": lasot,
    "nfs": nfs,
    "otb": otb,
}
ALIASES = {"got-10k": "got10k", "uav123": "uav", "otb100": "otb", "otb-100": "otb", "nfs30": "nfs"}


def detect_layout(path: str | Path) -> str:
    """The layout name of a dataset folder; DataError when none matches."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(path, "dataset folder does not exist")
    for name, mod in LAYOUTS.items():
        if mod.detect(path):
            return name
    raise DataError(
        path,
        "cannot tell the dataset layout; expected one of: GOT-10k (list.txt, or train/val/test/list.txt), "
        "TrackingNet (TEST/ or TRAIN_k/ with anno/ and frames/), UAV123 (anno/ and data_seq/), "
        "LaSOT (<class>/<class>-<n>/groundtruth.txt and img/), NfS (<seq>/30/<seq>/), "
        "OTB (<Seq>/img/ and groundtruth_rect.txt)",
    )


def load_dataset(path: str | Path, layout: str | None = None, split: str | None = None, **options) -> Dataset:
    """Read a benchmark folder.

    Args:
        path: a dataset root or a split folder (GOT-10k ``val/`` holding ``list.txt``,
            a TrackingNet chunk).
        layout: ``got10k``, ``lasot``, ``otb``, ``uav``, ``nfs``, ``trackingnet``; None detects it.
        split: the layout's split name (see each module's ``read``).
        options: passed to the layout's ``read`` (``check_frames``, ``ranges``, ``fix_rate`` ...).
    """
    path = Path(path)
    if layout is None:
        layout = detect_layout(path)
    key = ALIASES.get(layout.lower(), layout.lower())
    if key not in LAYOUTS:
        raise DataError(path, f"unknown dataset layout {layout!r}; expected one of {sorted(LAYOUTS)}")
    if not path.is_dir():
        raise DataError(path, "dataset folder does not exist")
    reader = LAYOUTS[key].read
    known = set(inspect.signature(reader).parameters) - {"path", "split"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"{key} reader has no option(s) {unknown}; it takes {sorted(known)}")
    return reader(path, split=split, **options)


def check(dataset: Dataset, progress: Callable | None = None) -> None:
    """Raise DataError for the first missing frame file of any sequence (no decoding)."""
    for seq in dataset if progress is None else progress(dataset):
        seq.frames.check()


__all__ = ["LAYOUTS", "check", "detect_layout", "load_dataset"]
