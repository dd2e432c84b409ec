"""Small synthetic ground truth and perturbed results for tests and benchmarks.

Box tracks are random walks; results are the ground truth plus noise, with occasional
drift and failures so every metric sees a spread of IoUs. Written in GOT-10k layout
(``list.txt``, ``groundtruth.txt``, ``cover.label``, ``absence.label``, ``cut_by_image.label``,
``meta_info.ini``) so the got10k toolkit can read the same files. No images are written:
scoring never opens a frame.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from trackkit.atomic import atomic_open, write_text
from trackkit.data.sequence import Dataset, Sequence
from trackkit.eval.results import SequenceResult, ResultSet

__all__ = ["synthetic_dataset", "perturbed_results", "write_got10k_split", "read_got10k_split_annotations"]


class _NoFrames:
    """A frame source of known length that has no pixels (scoring never reads frames)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        raise IndexError("synthetic evaluation sequences have no pixels")


def synthetic_dataset(n_seq: int = 8, n_frames: int = 50, seed: int = 0, prefix: str = "GOT-10k_Val_",
                      resolution: tuple[int, int] = (640, 360)) -> Dataset:
    rng = np.random.default_rng(seed)
    W, H = resolution
    seqs = []
    for i in range(n_seq):
        wh = rng.uniform(20, 120, 2) * np.exp(np.cumsum(rng.normal(0, 0.02, (n_frames, 2)), axis=0))
        c = rng.uniform([0.3 * W, 0.3 * H], [0.7 * W, 0.7 * H]) + np.cumsum(rng.normal(0, 3, (n_frames, 2)), axis=0)
        boxes = np.round(np.concatenate([c - wh / 2, wh], axis=1), 3)
        cover = rng.integers(0, 9, n_frames)
        cover[rng.random(n_frames) < 0.8] = 8
        cover[0] = 8
        seqs.append(Sequence(
            name=f"{prefix}{i + 1:06d}", frames=_NoFrames(n_frames), boxes=boxes,
            labels={"cover": cover, "absence": (cover == 0).astype(int), "cut_by_image": np.zeros(n_frames, int)},
            attributes={"resolution": (W, H), "object_class": "thing", "fast_motion": bool(i % 2),
                        "small": bool(i % 3 == 0)},
            dataset="got10k"))
    return Dataset(seqs, name="synthetic", split="val")


def perturbed_results(dataset, seed: int = 0, runs: int = 3, noise: float = 0.15, times: bool = True) -> ResultSet:
    """Ground truth + multiplicative noise, drift and occasional far-off boxes; ``%.3f``."""
    rng = np.random.default_rng(seed)
    out = ResultSet(tracker="perturbed", layout="got10k")
    for seq in dataset:
        gt = seq.boxes
        n = len(gt)
        rs = []
        for _ in range(runs):
            p = gt.copy()
            scale = np.abs(gt[:, 2:]).mean(axis=1, keepdims=True)
            p[:, :2] += rng.normal(0, noise, (n, 2)) * scale + np.cumsum(rng.normal(0, 0.3, (n, 2)), axis=0)
            p[:, 2:] *= np.exp(rng.normal(0, noise, (n, 2)))
            lost = rng.random(n) < 0.05
            p[lost, :2] += rng.uniform(-300, 300, (lost.sum(), 2))
            rs.append(np.round(p, 3))
        t = rng.uniform(0.005, 0.03, (n, runs)) if times else None
        out[seq.name] = SequenceResult(seq.name, rs, t)
    return out


def write_got10k_split(split_dir: str | Path, dataset) -> Path:
    """Write ``dataset`` as a GOT-10k split folder (annotations only)."""
    split_dir = Path(split_dir)
    split_dir.mkdir(parents=True, exist_ok=True)
    for seq in dataset:
        d = split_dir / seq.name
        with atomic_open(d / "groundtruth.txt") as fh:
            np.savetxt(fh, seq.boxes, fmt="%.4f", delimiter=",")
        for key in ("absence", "cover", "cut_by_image"):
            if key in seq.labels:
                with atomic_open(d / f"{key}.label") as fh:
                    np.savetxt(fh, np.asarray(seq.labels[key]), fmt="%d")
        W, H = seq.resolution or (0, 0)
        write_text(d / "meta_info.ini", "[METAINFO]\n"
                   f"object_class: {seq.attributes.get('object_class', 'thing')}\n"
                   f"resolution: ({W}, {H})\n"
                   "anno_fps: 10Hz\n")
    write_text(split_dir / "list.txt", "\n".join(s.name for s in dataset) + "\n")
    return split_dir


def read_got10k_split_annotations(split_dir: str | Path) -> Dataset:
    """Annotation-only GOT-10k split reader (no frame listing): what scoring needs, fast.

    All ``groundtruth.txt`` files are parsed in one batched call, all ``cover.label`` files in
    another (see :func:`trackkit.data.readers.common.parse_files`); a file the batch cannot
    vouch for is read by :func:`~trackkit.eval.results.read_box_file`, which names the file
    and line of any problem. Of ``meta_info.ini`` only ``key: value`` lines are read.
    The full reader with frames is :func:`trackkit.data.readers.load_dataset`.
    """
    from trackkit.eval.results import _read_many, read_box_file

    split_dir = Path(split_dir)
    names = [l.strip() for l in (split_dir / "list.txt").read_text().splitlines() if l.strip()]
    dirs = [split_dir / n for n in names]
    boxes = _read_many([d / "groundtruth.txt" for d in dirs], ",", 4,
                       lambda p: read_box_file(p, 4, ",", allow_nan=False))
    covers = [d / "cover.label" for d in dirs]
    covers = [c if c.is_file() else None for c in covers]
    found = [c for c in covers if c is not None]
    parsed = dict(zip(found, _read_many(found, ",", 1, lambda p: read_box_file(p, 1, ","))))
    seqs = []
    for name, d, gt, cov in zip(names, dirs, boxes, covers):
        labels = {} if cov is None else {"cover": parsed[cov][:, 0]}
        seqs.append(Sequence(name, _NoFrames(len(gt)), gt, labels, _read_meta_lines(d / "meta_info.ini"), "got10k"))
    return Dataset(seqs, name="got10k", root=split_dir.parent, split=split_dir.name)


def _read_meta_lines(path: Path) -> dict:
    """``key: value`` lines of a meta_info.ini (none when missing); ``resolution`` as a tuple."""
    try:
        text = path.read_text()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return {}
    attrs = {}
    for line in text.splitlines()[1:]:
        if ": " in line:
            k, v = line.split(": ", 1)
            attrs[k.strip()] = v.strip()
    if "resolution" in attrs:
        import ast

        attrs["resolution"] = tuple(ast.literal_eval(attrs["resolution"]))
    return attrs
