"""Writers of tiny benchmark folders in each dataset's own layout, for tests.

Each ``write_<layout>(root, ...)`` creates the folder structure, a few 16x12 JPEG frames
per sequence and annotation files, and returns ``{sequence name: expected}`` where
``expected`` holds the ``boxes`` (float64 x, y, w, h) and ``labels`` the reader must return.
Box values are multiples of 1/8, so they survive the text round trip exactly.

Usage from any test: ``from dataset_fixtures import write_lasot`` (pytest puts ``tests/``
on ``sys.path``).
"""
from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np


@lru_cache(maxsize=8)
def tiny_jpeg(w: int = 16, h: int = 12, shade: int = 128) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), (shade, 255 - shade, 64)).save(buf, format="JPEG")
    return buf.getvalue()


def write_frames(folder: Path, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = tiny_jpeg()
    for n in names:
        (folder / n).write_bytes(data)


def random_boxes(n: int, rng: np.random.Generator, nan_rows=()) -> np.ndarray:
    xy = rng.integers(0, 80, size=(n, 2)) / 8
    wh = rng.integers(8, 64, size=(n, 2)) / 8
    boxes = np.concatenate([xy, wh], axis=1).astype(np.float64)
    boxes[list(nan_rows)] = np.nan
    return boxes


def format_boxes(boxes: np.ndarray, sep: str = ",") -> str:
    return "".join(sep.join("NaN" if np.isnan(v) else repr(float(v)) for v in b) + "\n" for b in boxes)


def write_got10k(root, split: str = "val", n_seqs: int = 2, n_frames: int = 5, seed: int = 0,
                 resolution=(16, 12)) -> dict:
    """``root/<split>/list.txt`` and ``GOT-10k_<Split>_00000k/`` folders."""
    rng = np.random.default_rng(seed)
    split_dir = Path(root) / split
    split_dir.mkdir(parents=True, exist_ok=True)
    names = [f"GOT-10k_{split.capitalize()}_{k:06d}" for k in range(1, n_seqs + 1)]
    (split_dir / "list.txt").write_text("\n".join(names) + "\n")
    out = {}
    for name in names:
        d = split_dir / name
        write_frames(d, [f"{i:08d}.jpg" for i in range(1, n_frames + 1)])
        boxes = random_boxes(n_frames, rng)
        labels = {}
        if split == "test":
            (d / "groundtruth.txt").write_text(format_boxes(boxes[:1]))
            boxes = boxes[:1]
        else:
            (d / "groundtruth.txt").write_text(format_boxes(boxes))
            labels = {
                "cover": rng.integers(0, 9, n_frames),
                "absence": rng.integers(0, 2, n_frames),
                "cut_by_image": rng.integers(0, 2, n_frames),
            }
            for k, v in labels.items():
                (d / f"{k}.label").write_text("".join(f"{x}\n" for x in v))
            (d / "meta_info.ini").write_text(
                "[METAINFO]\nurl: https://youtu.be/x?t=1%20s\nbegin: 00:00:01\nend: 00:00:03\n"
                "anno_fps: 10Hz\nobject_class: ant\nmotion_class: crawling\nmajor_class: insect\n"
                f"root_class: animal\nmotion_adverb: slowly\nresolution: ({resolution[0]}, {resolution[1]})\n"
            )
        out[name] = {"boxes": boxes, "labels": labels}
    return out


def write_lasot(root, classes=("airplane", "bird"), per_class: int = 2, n_frames: int = 5, seed: int = 0,
                test: tuple[str, ...] | None = None) -> dict:
    """``root/<class>/<class>-<n>/`` folders and ``testing_set.txt`` (``test``; default: the
    first sequence of each class)."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    out = {}
    for cls in classes:
        for k in range(1, per_class + 1):
            name = f"{cls}-{k}"
            d = root / cls / name
            write_frames(d / "img", [f"{i:08d}.jpg" for i in range(1, n_frames + 1)])
            boxes = random_boxes(n_frames, rng)
            (d / "groundtruth.txt").write_text(format_boxes(boxes))
            labels = {"full_occlusion": rng.integers(0, 2, n_frames), "out_of_view": rng.integers(0, 2, n_frames)}
            for lab, v in labels.items():
                (d / f"{lab}.txt").write_text(",".join(str(x) for x in v) + "\n")
            (d / "nlp.txt").write_text(f"the {cls} flying left\n")
            out[name] = {"boxes": boxes, "labels": labels, "class": cls}
    test = [f"{c}-1" for c in classes] if test is None else list(test)
    (root / "testing_set.txt").write_text("\n".join(test) + "\n")
    return out


def write_otb(root, videos=None, seed: int = 0) -> dict:
    """OTB video folders. ``videos``: ``{name: (n_img, first_img, sep, n_targets)}``; the
    default covers the quirks: a comma file, a tab file, a space file, a two-target video
    (Jogging), a 5-digit folder starting at frame 3 (BlurCar3-like) and David (annotation
    from frame 300 of a folder starting at 1, so n_img must reach 299 + n boxes)."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    videos = videos or {
        "Basketball": (4, 1, ",", 1, 4),
        "Bolt": (3, 1, "\t", 1, 4),
        "Crossing": (3, 1, " ", 1, 4),
        "Jogging": (4, 1, ",", 2, 4),
        "BlurCar3": (4, 3, ",", 1, 5),
        "David": (302, 1, ",", 1, 4),
    }
    out = {}
    for vid, (n_img, first, sep, n_targets, width) in videos.items():
        d = root / vid
        write_frames(d / "img", [f"{i:0{width}d}.jpg" for i in range(first, first + n_img)])
        start = 300 if vid == "David" else first
        n_boxes = first + n_img - start
        for t in range(1, n_targets + 1):
            boxes = random_boxes(n_boxes, rng)
            fname = "groundtruth_rect.txt" if n_targets == 1 else f"groundtruth_rect.{t}.txt"
            (d / fname).write_text(format_boxes(boxes, sep))
            name = vid if n_targets == 1 else f"{vid}.{t}"
            out[name] = {"boxes": boxes, "labels": {}, "start": start, "width": width}
    return out


def write_uav(root, seed: int = 0) -> tuple[dict, dict]:
    """UAV123 layout with one whole-folder sequence (``bike1``), two sub-sequences of folder
    ``car1`` and NaN (absent) rows. Returns (expected, ranges)."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    ranges = {"bike1": ("bike1", 1, 4), "car1_1": ("car1", 1, 3), "car1_2": ("car1", 3, 6)}
    write_frames(root / "data_seq/UAV123/bike1", [f"{i:06d}.jpg" for i in range(1, 5)])
    write_frames(root / "data_seq/UAV123/car1", [f"{i:06d}.jpg" for i in range(1, 7)])
    anno = root / "anno/UAV123"
    anno.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (folder, s, e) in ranges.items():
        boxes = random_boxes(e - s + 1, rng, nan_rows=(1,) if name == "car1_2" else ())
        (anno / f"{name}.txt").write_text(format_boxes(boxes))
        out[name] = {"boxes": boxes, "labels": {}, "range": (folder, s, e)}
    return out, ranges


def write_nfs(root, names=("Gymnastics", "bee"), n_frames: int = 4, raw: tuple[str, ...] = ("bee",), seed: int = 0) -> dict:
    """NfS 30 fps layout; sequences in ``raw`` get the raw ``id xmin ymin xmax ymax ...``
    annotation, the others pytracking's tab-separated x, y, w, h."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    out = {}
    for name in names:
        d = root / name / "30"
        write_frames(d / name, [f"{i:05d}.jpg" for i in range(1, n_frames + 1)])
        boxes = random_boxes(n_frames, rng)
        if name in raw:
            lines = [f'1 {float(b[0])!r} {float(b[1])!r} {float(b[0] + b[2])!r} {float(b[1] + b[3])!r} {i + 1} 0 0 0 "person"\n' for i, b in enumerate(boxes)]
            (d / f"{name}.txt").write_text("".join(lines))
        else:
            (d / f"{name}.txt").write_text(format_boxes(boxes, "\t"))
        out[name] = {"boxes": boxes, "labels": {}}
    return out


def write_trackingnet(root, chunks=("TEST", "TRAIN_0", "TRAIN_1"), per_chunk: int = 2, n_frames: int = 4, seed: int = 0) -> dict:
    """TrackingNet chunks with ``frames/<video>/<i>.jpg`` (0-based) and ``anno/<video>.txt``;
    TEST annotations give frame 0 only."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    out = {}
    for c in chunks:
        (root / c / "anno").mkdir(parents=True, exist_ok=True)
        for k in range(per_chunk):
            name = f"{c.lower()}_vid{k}"
            write_frames(root / c / "frames" / name, [f"{i}.jpg" for i in range(n_frames)])
            boxes = random_boxes(n_frames, rng)[: 1 if c == "TEST" else n_frames]
            (root / c / "anno" / f"{name}.txt").write_text(format_boxes(boxes))
            out[name] = {"boxes": boxes, "labels": {}, "chunk": c}
    return out
