"""Pretraining images: crops of procedural frames made in memory, or of an image folder.

Every crop is a pure function of ``(seed, epoch, item)``: each item seeds its own numpy
Generator, so the stream does not depend on DataLoader workers or on where a run was resumed.

Procedural source (:class:`SynthCrops`): one item plans a fresh scene of the generator
(:func:`trackkit.data.synth.make_sequence` on the ``pretrain`` split, whose sequences are
never those of train / val / test) with a random difficulty preset and randomised knobs
(target size, clutter, noise), renders a few of its frames and cuts several crops from each
frame: around the target at the tracker's template or search scale (centre and scale
jittered), a search-scale crop centred elsewhere in the frame, or MAE's random resized crop
of the whole frame. Planning a scene (its textures) costs ~10x a frame, hence several crops
per scene.

Folder source (:class:`FolderCrops`): every image under a folder, recursively (jpg, png,
...), in a per-epoch random order; each item is one random resized crop of one image, as
MAE's ImageNet loader. An image that cannot be decoded stops the run with an error naming it.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from trackkit.data.synth import PRESETS, make_sequence
from trackkit.errors import DataError
from trackkit.pretrain.config import CROP_KINDS, PretrainConfig

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
SYNTH_SPLIT = "pretrain"
SYNTH_FRAMES = 50  # frames planned per scene (frames are then drawn from them)
_SCENE_PRESETS = ("easy", "default", "hard", "clean")


# -- image folders ------------------------------------------------------------------------------
class ImageError(DataError):
    """An image that cannot be decoded. It also survives a DataLoader worker: torch re-raises
    a worker's exception as ``type(message)`` (the message holding the worker's traceback),
    which a plain DataError(path, problem) cannot take; here the traceback's last line, the
    original ``<file>: <problem>``, becomes the message again."""

    def __init__(self, path, problem: str | None = None):
        if problem is None:
            last = str(path).strip().splitlines()[-1]
            super().__init__(None, last.split(f"{type(self).__name__}: ", 1)[-1])
        else:
            super().__init__(path, problem)


def list_images(root: str | Path) -> list[Path]:
    """Every image file under ``root`` (recursive, extension case-insensitive, hidden files and
    folders skipped), sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "image folder not found (or not a folder)")
    paths = sorted(p for p in root.rglob("*")
                   if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not paths:
        raise DataError(root, f"no images found (searched recursively for {', '.join(IMAGE_EXTENSIONS)})")
    return paths


def decode_image(path: str | Path) -> np.ndarray:
    """An image file as an H x W x 3 uint8 RGB array; DataError naming the file otherwise."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise ImageError(path, "image file disappeared") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ImageError(path, f"cannot decode image ({type(e).__name__}: {e})") from None


# -- crops --------------------------------------------------------------------------------------
def crop_resize(img: np.ndarray, box: tuple[float, float, float, float], size: int,
                flip: bool = False) -> np.ndarray:
    """Pixels of ``box`` (x0, y0, x1, y1; rounded to whole pixels, zeros outside the image)
    resized to ``size`` x ``size`` (bicubic, antialiased as PIL shrinks) -> uint8 HWC."""
    from PIL import Image

    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    im = Image.fromarray(img).crop((x0, y0, x1, y1)).resize((size, size), Image.BICUBIC)
    out = np.asarray(im)
    return out[:, ::-1] if flip else out


def random_resized_box(rng: np.random.Generator, width: int, height: int,
                       scale: tuple[float, float], ratio: tuple[float, float]):
    """torchvision's RandomResizedCrop box (10 tries, then a centre crop of clamped aspect)."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            x0 = int(rng.integers(0, width - w + 1))
            y0 = int(rng.integers(0, height - h + 1))
            return x0, y0, x0 + w, y0 + h
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif aspect > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    x0, y0 = (width - w) // 2, (height - h) // 2
    return x0, y0, x0 + w, y0 + h


def square_box(cx: float, cy: float, side: float):
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


class CropMaker:
    """Draws one crop of a frame: kind by ``crop_mix``, then the kind's box, then a flip.

    Target crops are squares of side factor * sqrt(w h) (the tracker's template / search
    factor) times exp(U(-0.25, 0.25)), centred on the target plus U(-0.5, 0.5) * jitter *
    side per axis; 'away' crops have the search side and a centre uniform over the frame.
    """

    def __init__(self, cfg: PretrainConfig, size: int, template_factor: float, search_factor: float):
        self.cfg, self.size = cfg, size
        self.factors = {"template": template_factor, "search": search_factor}
        w = np.asarray(cfg.crop_mix, np.float64)
        self.mix = w / w.sum()

    def __call__(self, rng: np.random.Generator, frame: np.ndarray, target=None) -> np.ndarray:
        """``target``: x, y, w, h of the target in pixels, or None (then a resized crop)."""
        H, W = frame.shape[:2]
        kind = CROP_KINDS[int(rng.choice(len(CROP_KINDS), p=self.mix))]
        if target is None and kind != "resized":
            kind = "resized"
        c = self.cfg
        if kind == "resized":
            box = random_resized_box(rng, W, H, c.crop_scale, c.crop_ratio)
        else:
            x, y, w, h = target
            factor = self.factors["template" if kind == "template" else "search"]
            side = math.sqrt(w * h) * factor * math.exp(rng.uniform(-0.25, 0.25))
            if kind == "away":
                cx, cy = rng.uniform(0, W), rng.uniform(0, H)
            else:
                cx = x + w / 2 + rng.uniform(-0.5, 0.5) * c.jitter * side
                cy = y + h / 2 + rng.uniform(-0.5, 0.5) * c.jitter * side
            box = square_box(cx, cy, side)
        return crop_resize(frame, box, self.size, flip=bool(rng.random() < c.hflip))


def _to_tensor(crops: list[np.ndarray]) -> torch.Tensor:
    """uint8 (k, S, S, 3): channels stay last until :func:`normalize` (a uint8 permute here
    costs more than the float one there)."""
    return torch.from_numpy(np.stack(crops))


# -- datasets: item = (epoch, index) ---------------------------------------------------------
class SynthCrops(torch.utils.data.Dataset):
    """Item (epoch, i) -> uint8 (frames_per_scene * crops_per_frame, S, S, 3) from one new scene."""

    def __init__(self, cfg: PretrainConfig, crops: CropMaker, seed: int = 0, split: str = SYNTH_SPLIT):
        self.cfg, self.crops, self.seed, self.split = cfg, crops, seed, split

    def scene_config(self, rng: np.random.Generator):
        base = PRESETS[_SCENE_PRESETS[int(rng.integers(len(_SCENE_PRESETS)))]]
        lo = rng.uniform(0.08, 0.25)
        return base.replace(target_size=(lo, min(0.6, lo * rng.uniform(1.2, 2.5))),
                            clutter=int(rng.integers(0, 25)), noise=float(rng.uniform(0, 8)))

    def __getitem__(self, item: tuple[int, int]) -> torch.Tensor:
        epoch, i = item
        rng = np.random.default_rng([self.seed, epoch, i])
        seq = make_sequence(self.scene_config(rng), self.seed, int(rng.integers(2**31)),
                            self.split, SYNTH_FRAMES)
        out = []
        frames = rng.choice(SYNTH_FRAMES, size=self.cfg.synth_frames_per_scene, replace=False)
        for f in np.sort(frames):
            frame = seq.frames[int(f)]
            x, y, w, h = seq.boxes[f]
            target = (x, y, w, h) if min(w, h) >= 2 else None  # out of view: no target crops
            out += [self.crops(rng, frame, target) for _ in range(self.cfg.synth_crops_per_frame)]
        return _to_tensor(out)


class FolderCrops(torch.utils.data.Dataset):
    """Item (epoch, i) -> uint8 (1, S, S, 3): a random resized crop of image perm_epoch[i % n]
    (an epoch of fewer items than files sees a fresh random subset)."""

    def __init__(self, paths: list[Path], crops: CropMaker, seed: int = 0):
        self.paths, self.crops, self.seed = list(paths), crops, seed
        self._order: tuple[int, np.ndarray] | None = None

    def order(self, epoch: int) -> np.ndarray:
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, np.random.default_rng([self.seed, epoch]).permutation(len(self.paths)))
        return self._order[1]

    def __getitem__(self, item: tuple[int, int]) -> torch.Tensor:
        epoch, i = item
        path = self.paths[int(self.order(epoch)[i % len(self.paths)])]
        rng = np.random.default_rng([self.seed, epoch, i])
        return _to_tensor([self.crops(rng, decode_image(path))])


class EpochBatches(torch.utils.data.Sampler):
    """Batches of (epoch, item) pairs: ``items`` items per epoch, ``per_batch`` per batch."""

    def __init__(self, items: int, per_batch: int):
        self.items, self.per_batch, self.epoch = items, per_batch, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.items // self.per_batch

    def __iter__(self):
        for b in range(len(self)):
            yield [(self.epoch, b * self.per_batch + j) for j in range(self.per_batch)]


def collate(items: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(items)


def normalize(batch: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 (B,S,S,3) -> float32 (B,3,S,S), /255 then (x - mean) / std (the tracker's
    normalisation)."""
    m = torch.tensor(mean, dtype=torch.float32, device=batch.device)
    s = torch.tensor(std, dtype=torch.float32, device=batch.device)
    return ((batch.float() / 255 - m) / s).permute(0, 3, 1, 2).contiguous()
