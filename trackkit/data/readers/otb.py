"""OTB-100: ``root/<Seq>/img/0001.jpg ...`` and ``root/<Seq>/groundtruth_rect.txt``.

Quirks handled (facts from the got10k toolkit and pytracking's OTB table):

* the annotation is comma-, tab- or space-separated (``delimiter="auto"``);
* two targets in one video: ``groundtruth_rect.1.txt`` / ``.2.txt`` give sequences
  ``Jogging.1``, ``Jogging.2``, ``Skating2.1``, ``Skating2.2`` (got10k toolkit naming); an
  empty annotation file (``Human4``'s ``.1``) is skipped;
* frame offsets: the annotation starts at :data:`START_FRAME` (``David`` starts at frame
  300; ``BlurCar1/3/4`` image folders start at 0247/0003/0018), otherwise at the folder's
  first frame number;
* some folders hold more frames than are annotated (:data:`ANNOTATED_END`); every other
  length mismatch is an error.

Frame names keep the folder's own zero padding (``Board`` uses 5 digits) and extension.
pytracking additionally drops Tiger1's first 5 frames (``initOmit``); the toolkits disagree
and this reader, like got10k, keeps them: the ``otb`` scoring protocol applies pytracking's
omission itself (:data:`trackkit.eval.protocols.PYTRACKING_INIT_OMIT`), and it reads
pytracking's result names (``Jogging_1``, ``Human4_2``) as well as these.
"""
from __future__ import annotations

from pathlib import Path

from trackkit.data.readers.common import numbered_files, read_table
from trackkit.data.sequence import Dataset, ImageFiles, Sequence
from trackkit.errors import DataError

# First annotated frame where it is not the first frame of the image folder.
START_FRAME = {"David": 300}
# Last annotated frame where the image folder holds more frames.
ANNOTATED_END = {"David": 770, "Football1": 74, "Freeman3": 460, "Freeman4": 283, "Diving": 215}


def _gt_files(seq_dir: Path) -> list[Path]:
    files = sorted(seq_dir.glob("groundtruth_rect*.txt"))
    return [f for f in files if f.stat().st_size > 0 and f.read_text().strip()]


def read_video(seq_dir: Path) -> list[Sequence]:
    """The one or two sequences of an OTB video folder."""
    gts = _gt_files(seq_dir)
    if not gts:
        raise DataError(seq_dir / "groundtruth_rect.txt", "file is missing or empty")
    numbers, width = numbered_files(seq_dir / "img")
    if not numbers:
        raise DataError(seq_dir / "img", "holds no numbered .jpg/.png frames")
    ext = Path(numbers[min(numbers)]).suffix
    vid = seq_dir.name
    start = START_FRAME.get(vid, min(numbers))
    last = max(numbers)
    out = []
    for k, gt in enumerate(gts, 1):
        boxes = read_table(gt, ncols=4, delimiter="auto")
        end = start + len(boxes) - 1
        if end > last or (end < last and ANNOTATED_END.get(vid) != end):
            raise DataError(gt, f"has {len(boxes)} boxes for frames {start}..{end} but {seq_dir / 'img'} holds frames {start}..{last}")
        frames = ImageFiles([seq_dir / "img" / f"{i:0{width}d}{ext}" for i in range(start, end + 1)])
        name = vid if len(gts) == 1 else f"{vid}.{k}"
        attrs = {"start_frame": start}
        out.append(Sequence(name, frames, boxes, {}, attrs, dataset="otb"))
    return out


def detect(path: Path) -> bool:
    return any((d / "img").is_dir() and any(d.glob("groundtruth_rect*.txt")) for d in path.iterdir() if d.is_dir())


def read(path: str | Path, split: str | None = None, names: list[str] | None = None, check_frames: bool = True) -> Dataset:
    """Read every OTB video under ``path`` (or only the video folders in ``names``).

    ``split`` is accepted for a uniform signature; OTB has none (must be None or ``test``).
    ``check_frames`` is accepted likewise: OTB always lists the image folder, because the
    folder's first frame number and zero padding are needed to name the frames.
    """
    root = Path(path)
    if split not in (None, "test"):
        raise DataError(root, f"OTB has no split {split!r}")
    dirs = [root / n for n in names] if names else sorted(d for d in root.iterdir() if (d / "img").is_dir())
    seqs = [s for d in dirs for s in read_video(d)]
    return Dataset(seqs, name="otb", root=root, split=split)
