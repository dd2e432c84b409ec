"""One sequence type for every benchmark.

A :class:`Sequence` holds lazily loaded frames, the annotated boxes (x, y, w, h in pixels,
never shifted), per-frame labels from the dataset (cover, absence, occlusion, ...) and
per-sequence attributes. Readers in :mod:`trackkit.data.readers` fill it from each
benchmark's own layout; :mod:`trackkit.data.synth` fills it from the procedural generator.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence as _Seq, runtime_checkable

import numpy as np

from trackkit.errors import DataError


@runtime_checkable
class FrameSource(Protocol):
    """Anything that gives frame ``i`` as an ``H x W x 3`` uint8 RGB array."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> np.ndarray: ...


class ImageFiles:
    """Frames read from image files on demand (PIL). A missing or unreadable file raises
    :class:`DataError` naming the file."""

    def __init__(self, paths: _Seq[str | Path]):
        self.paths = [Path(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        path = self.paths[i]
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"))
        except FileNotFoundError:
            raise DataError(path, f"frame {i} is missing") from None
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(path, f"frame {i} cannot be read as an image ({e})") from None

    def check(self) -> None:
        """Raise for the first frame file that does not exist (cheap: no decoding)."""
        for i, p in enumerate(self.paths):
            if not p.is_file():
                raise DataError(p, f"frame {i} is missing")


class ArrayFrames:
    """Frames held in memory: a list of arrays or one ``N x H x W x 3`` array."""

    def __init__(self, frames):
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.asarray(self.frames[i])


class NpyFrames:
    """Frames stored as one ``N x H x W x 3`` uint8 ``.npy`` file, memory-mapped on first access
    (processes that read the same file share one copy in the page cache); pickles as its path,
    so a DataLoader worker started by ``spawn`` maps the file itself instead of receiving it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._array = None

    def _frames(self) -> np.ndarray:
        if self._array is None:
            try:
                a = np.load(self.path, mmap_mode="r")
            except FileNotFoundError:
                raise DataError(self.path, "the frame file is missing") from None
            except (ValueError, OSError) as e:
                raise DataError(self.path, f"not a readable .npy frame array ({e})") from None
            if a.dtype != np.uint8 or a.ndim != 4 or a.shape[-1] != 3:
                raise DataError(self.path, f"expected N x H x W x 3 uint8 frames, found {a.dtype} {a.shape}")
            self._array = a
        return self._array

    def __len__(self) -> int:
        return len(self._frames())

    def __getitem__(self, i: int) -> np.ndarray:
        return np.asarray(self._frames()[i])

    def __getstate__(self):
        return {"path": self.path, "_array": None}


@dataclass
class Sequence:
    """A tracking sequence.

    Attributes:
        name: the dataset's sequence name (result files are named after it).
        frames: lazy frame source; ``len(frames)`` is the sequence length.
        boxes: ``(K, 4)`` float64 x, y, w, h in pixels. ``K == len(frames)`` when the whole
            sequence is annotated, ``K == 1`` for test splits that give only the initial box.
            Rows may be NaN where the dataset marks the target absent (UAV123).
        labels: per-frame arrays from the dataset, by the dataset's own names
            (``cover``, ``absence``, ``cut_by_image``, ``full_occlusion``, ``out_of_view``).
        attributes: per-sequence facts (``object_class``, ``resolution`` (W, H), attribute
            flags, difficulty knobs of synthetic sequences ...).
        dataset: which benchmark layout it came from (``got10k``, ``lasot``, ``otb``, ``uav``,
            ``nfs``, ``trackingnet``, ``synth``).
    """

    name: str
    frames: FrameSource
    boxes: np.ndarray
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    dataset: str = ""

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)

    def __len__(self) -> int:
        return len(self.frames)

    def frame(self, i: int) -> np.ndarray:
        return self.frames[i]

    @property
    def init_box(self) -> np.ndarray:
        return self.boxes[0]

    def starting_at(self, first: int, name: str | None = None) -> "Sequence":
        """The same sequence from frame ``first`` on (frames, boxes and per-frame labels
        shifted; e.g. pytracking's ``initOmit``), optionally under another name."""
        if not 0 <= first < len(self):
            raise ValueError(f"{self.name}: cannot start at frame {first} of {len(self)}")
        if first and not self.fully_annotated:
            raise ValueError(f"{self.name}: only the first frame is annotated; cannot start at frame {first}")
        labels = {k: np.asarray(v)[first:] for k, v in self.labels.items()}
        return Sequence(name or self.name, _FromFrame(self.frames, first), self.boxes[first:], labels,
                        dict(self.attributes), self.dataset)

    @property
    def fully_annotated(self) -> bool:
        return len(self.boxes) == len(self.frames)

    @property
    def resolution(self) -> tuple[int, int] | None:
        """(W, H) when known without decoding a frame."""
        res = self.attributes.get("resolution")
        return None if res is None else (int(res[0]), int(res[1]))

    @property
    def visible(self) -> np.ndarray:
        """Per-frame visibility by the dataset's own definition; all True when unknown."""
        n = len(self.boxes)
        vis = np.ones(n, dtype=bool)
        if "absence" in self.labels:
            vis &= self.labels["absence"][:n] == 0
        if "cover" in self.labels:
            vis &= self.labels["cover"][:n] > 0
        if "full_occlusion" in self.labels:
            vis &= self.labels["full_occlusion"][:n] == 0
        if "out_of_view" in self.labels:
            vis &= self.labels["out_of_view"][:n] == 0
        vis &= ~np.isnan(self.boxes).any(axis=1)
        return vis


class _FromFrame:
    """A frame source seen from frame ``first`` on."""

    def __init__(self, frames: FrameSource, first: int):
        self.frames, self.first = frames, first

    def __len__(self) -> int:
        return len(self.frames) - self.first

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.frames[i + self.first]


class Dataset(list):
    """A list of :class:`Sequence` with the dataset's name, root and split."""

    def __init__(self, sequences=(), name: str = "", root: str | Path | None = None, split: str | None = None):
        super().__init__(sequences)
        self.name = name
        self.root = None if root is None else Path(root)
        self.split = split

    def by_name(self) -> dict[str, Sequence]:
        return {s.name: s for s in self}

    def __iter__(self) -> Iterator[Sequence]:
        return super().__iter__()
