"""Crop geometry shared by tracking and training: OSTrack's ``sample_target`` crops made in a
batch on the device, the crop settings (:class:`TrackConfig`), the map back from a crop to the
image, the box clip and the Hanning window.

It sits below :mod:`trackkit.track` and :mod:`trackkit.train` (both crop the same way) and
imports nothing of trackkit's.

OSTrack (``lib/train/data/processing_utils.py``) crops one frame at a time in numpy / cv2:

    crop_sz = ceil(sqrt(w*h) * factor)              # square crop side in image pixels
    x1 = round(cx - crop_sz/2); y1 = round(cy - crop_sz/2)   # Python round: half to even
    slice the image, cv2.copyMakeBorder(..., BORDER_CONSTANT) with zeros outside the image,
    cv2.resize(crop, (out, out))                    # INTER_LINEAR
    resize_factor = out / crop_sz

Here the same geometry is computed in float64 (numpy, per box) and the pixels are sampled in
torch for many frames at once (frames of different sizes are zero-padded to one tensor; each
sample knows its own width and height). Each output pixel (i, j) samples the crop at
``s = (j + 0.5) * crop_sz/out - 0.5`` (cv2's half-pixel rule), both neighbours clamped to the
crop ``[0, crop_sz-1]`` (cv2 clamps at the edge of the *padded crop*, not of the image), and a
neighbour outside the image reads 0 (the constant border). So the geometry is identical to
the cv2 path, including upsampling near the crop edge.

Resampling differences from cv2 (all below one grey level):
- cv2 ``INTER_LINEAR`` on uint8 uses 11-bit fixed-point weights and rounds the output to uint8;
  here the weights are exact (float64 positions, float32 arithmetic) and the crop stays float.
- Neither antialiases when shrinking (cv2's INTER_LINEAR does not), so no difference there.

OSTrack quirk, kept by default (``border_quirk=True``, ``TrackConfig.border_quirk``):
``x2_pad = max(x2 - W + 1, 0)`` pads one pixel too many, so the image's last column (and
last row) never enters a crop; it reads as zero padding. ``border_quirk=False`` gives the
textbook crop that uses every pixel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence as _Seq

import numpy as np
import torch


def crop_geometry(boxes: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Square crop around each box, in image pixels.

    Args:
        boxes: ``(B, 4)`` x, y, w, h in pixels.
        factor: crop side = ``ceil(sqrt(w*h) * factor)``.

    Returns:
        ``(x1, y1, crop_sz)`` as int64 arrays of shape ``(B,)``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x, y, w, h = boxes.T
    # math.sqrt/ceil per box: identical to OSTrack's Python float arithmetic
    crop_sz = np.array([math.ceil(math.sqrt(wi * hi) * factor) for wi, hi in zip(w, h)], dtype=np.int64)
    if (crop_sz < 1).any() or not np.isfinite(boxes).all():
        bad = int(np.flatnonzero((crop_sz < 1) | ~np.isfinite(boxes).all(1))[0])
        raise ValueError(f"box {boxes[bad].tolist()} is too small or not finite to crop around")
    # np.round rounds half to even, like Python's round() in OSTrack
    x1 = np.round(x + 0.5 * w - crop_sz * 0.5).astype(np.int64)
    y1 = np.round(y + 0.5 * h - crop_sz * 0.5).astype(np.int64)
    return x1, y1, crop_sz


def _axis(start: np.ndarray, crop_sz: np.ndarray, limit: np.ndarray, out_sz: int, device):
    """Neighbour indices and weights along one axis for every sample: ``(B, out_sz)`` each.

    Weights are zeroed for neighbours outside ``[0, limit)`` (the zero border)."""
    j = np.arange(out_sz, dtype=np.float64)
    scale = crop_sz.astype(np.float64)[:, None] / out_sz
    s = (j[None, :] + 0.5) * scale - 0.5  # position inside the padded crop
    i0 = np.floor(s)
    frac = s - i0
    last = crop_sz[:, None] - 1
    i0c = np.clip(i0, 0, last).astype(np.int64)
    i1c = np.clip(i0 + 1, 0, last).astype(np.int64)
    p0 = i0c + start[:, None]  # image coordinates
    p1 = i1c + start[:, None]
    v0 = (p0 >= 0) & (p0 < limit[:, None])
    v1 = (p1 >= 0) & (p1 < limit[:, None])
    w0 = (1.0 - frac) * v0
    w1 = frac * v1
    t = lambda a, dt: torch.from_numpy(a).to(device=device, dtype=dt)  # noqa: E731
    return (t(np.where(v0, p0, 0), torch.int64), t(np.where(v1, p1, 0), torch.int64),
            t(w0, torch.float32), t(w1, torch.float32))


def stack_frames(frames: _Seq[np.ndarray | torch.Tensor], device="cpu") -> tuple[torch.Tensor, np.ndarray]:
    """Frames (``H x W x 3`` uint8, sizes may differ) -> one ``(B, Hmax, Wmax, 3)`` uint8
    tensor on ``device`` (zero-padded) and their sizes ``(B, 2)`` as (H, W)."""
    # np.require copies only read-only (PIL) or strided frames; torch refuses read-only arrays
    ts = [f if isinstance(f, torch.Tensor) else torch.from_numpy(np.require(f, requirements=("C", "W")))
          for f in frames]
    for k, t in enumerate(ts):
        if t.ndim != 3 or t.shape[2] != 3 or t.dtype != torch.uint8:
            raise ValueError(f"frame {k}: expected H x W x 3 uint8, got {tuple(t.shape)} {t.dtype}")
    sizes = np.array([[t.shape[0], t.shape[1]] for t in ts], dtype=np.int64)
    hm, wm = sizes.max(0)
    if (sizes == (hm, wm)).all():
        out = torch.stack(ts)
    else:
        out = torch.zeros((len(ts), hm, wm, 3), dtype=torch.uint8)
        for k, t in enumerate(ts):
            out[k, : t.shape[0], : t.shape[1]] = t
    return out.to(device, non_blocking=True), sizes


def sample_crops(frames: torch.Tensor, sizes: np.ndarray, boxes: np.ndarray, factor: float,
                 out_sz: int, border_quirk: bool = True) -> tuple[torch.Tensor, np.ndarray]:
    """Crop and resize around each box, all samples in one gather.

    Args:
        frames: ``(B, Hmax, Wmax, 3)`` uint8 from :func:`stack_frames` (any device).
        sizes: ``(B, 2)`` real (H, W) of each frame.
        boxes: ``(B, 4)`` x, y, w, h in pixels.
        factor: search-area factor.
        out_sz: output side in pixels.
        border_quirk: reproduce OSTrack's dropped last row/column (see module docstring).

    Returns:
        crops ``(B, 3, out_sz, out_sz)`` float32 in 0..255, and ``resize_factor`` ``(B,)``
        float64 = out_sz / crop_sz.
    """
    sizes = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
    x1, y1, crop_sz = crop_geometry(boxes, factor)
    b, hm, wm, _ = frames.shape
    lim_h, lim_w = sizes[:, 0] - int(border_quirk), sizes[:, 1] - int(border_quirk)
    dev = frames.device
    ry0, ry1, wy0, wy1 = _axis(y1, crop_sz, lim_h, out_sz, dev)
    rx0, rx1, wx0, wx1 = _axis(x1, crop_sz, lim_w, out_sz, dev)
    flat = frames.reshape(b, hm * wm, 3)

    def px(ry, rx):  # (B, out, out, 3) float32 pixels at the given rows / columns
        idx = (ry[:, :, None] * wm + rx[:, None, :]).reshape(b, -1, 1).expand(-1, -1, 3)
        return flat.gather(1, idx).reshape(b, out_sz, out_sz, 3).float()

    wx0, wx1 = wx0[:, None, :, None], wx1[:, None, :, None]
    top = px(ry0, rx0) * wx0 + px(ry0, rx1) * wx1
    bot = px(ry1, rx0) * wx0 + px(ry1, rx1) * wx1
    crops = top * wy0[:, :, None, None] + bot * wy1[:, :, None, None]
    return crops.permute(0, 3, 1, 2).contiguous(), out_sz / crop_sz.astype(np.float64)


def normalize(crops: torch.Tensor, mean: _Seq[float], std: _Seq[float]) -> torch.Tensor:
    """0..255 crops -> ``(x/255 - mean) / std`` per channel (ImageNet statistics by default)."""
    m = torch.tensor(mean, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
    return (crops / 255.0 - m) / s


def box_in_crop(box: np.ndarray, box_extract: np.ndarray, resize_factor: np.ndarray, out_sz: int) -> np.ndarray:
    """``box`` in the coordinates of the crop taken around ``box_extract``, normalised by out_sz.

    OSTrack's ``transform_image_to_crop(..., normalize=True)``: the crop centre is
    ``(out_sz - 1) / 2`` and the rounding of x1 is ignored. Returns ``(B, 4)`` x1, y1, w, h.
    For the template, ``box == box_extract`` (what OSTrack passes as the template box).
    """
    box = np.asarray(box, dtype=np.float64).reshape(-1, 4)
    ext = np.asarray(box_extract, dtype=np.float64).reshape(-1, 4)
    rf = np.asarray(resize_factor, dtype=np.float64).reshape(-1, 1)
    c = (out_sz - 1) / 2 + (box[:, :2] + 0.5 * box[:, 2:] - ext[:, :2] - 0.5 * ext[:, 2:]) * rf
    wh = box[:, 2:] * rf
    return np.concatenate([c - 0.5 * wh, wh], axis=1) / out_sz


@dataclass(frozen=True)
class TrackConfig:
    """How a tracker crops and post-processes (training crops with the same geometry).

    Defaults are OSTrack-B/256: template 128 px at factor 2.0, search 256 px at factor 4.0,
    a Hanning window on the score map, boxes clipped to the image with a 10 px margin.
    """

    template_size: int = 128
    template_factor: float = 2.0
    search_size: int = 256
    search_factor: float = 4.0
    hanning: bool = True
    clip_margin: int = 10
    # OSTrack's sample_target pads one pixel too many at the right/bottom, so the image's last
    # column and row never enter a crop (see the module docstring). False = textbook crop.
    border_quirk: bool = True
    # ImageNet statistics: frames are divided by 255 then normalised.
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)


def hann1d(n: int) -> torch.Tensor:
    """OSTrack's centred Hanning window: ``0.5 * (1 - cos(2 pi k / (n + 1)))``, k = 1..n.
    Non-zero at the border (unlike ``torch.hann_window``)."""
    k = torch.arange(1, n + 1, dtype=torch.float64)
    return (0.5 * (1 - torch.cos(2 * math.pi * k / (n + 1)))).float()


def hann2d(n: int) -> torch.Tensor:
    """Outer product of :func:`hann1d` with itself: ``(n, n)``."""
    h = hann1d(n)
    return h[:, None] * h[None, :]


def map_box_back(pred: np.ndarray, prev: np.ndarray, resize_factor: np.ndarray, search_size: int) -> np.ndarray:
    """Normalised cx, cy, w, h in the search crop -> x, y, w, h in the image.

    The crop is taken as centred on the previous box's centre with side
    ``search_size / resize_factor`` (OSTrack ignores the rounding of the crop corner).
    All arrays are ``(B, ...)``; returns ``(B, 4)`` float64.
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    prev = np.asarray(prev, dtype=np.float64).reshape(-1, 4)
    rf = np.asarray(resize_factor, dtype=np.float64).reshape(-1, 1)
    box = pred * search_size / rf  # cx, cy, w, h in image pixels relative to the crop corner
    half = 0.5 * search_size / rf[:, 0]
    cx = box[:, 0] + (prev[:, 0] + 0.5 * prev[:, 2] - half)
    cy = box[:, 1] + (prev[:, 1] + 0.5 * prev[:, 3] - half)
    w, h = box[:, 2], box[:, 3]
    return np.stack([cx - 0.5 * w, cy - 0.5 * h, w, h], axis=1)


def clip_box(boxes: np.ndarray, sizes: np.ndarray, margin: float) -> np.ndarray:
    """OSTrack's ``clip_box``: keep at least ``margin`` px of the box inside the image.

    ``sizes`` is ``(B, 2)`` (H, W). The corner is clipped to ``[0, W - margin]``, the far
    corner to ``[margin, W]``, and w, h are at least ``margin``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    hh, ww = sizes[:, 0], sizes[:, 1]
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    x1 = np.minimum(np.maximum(0, x1), ww - margin)
    x2 = np.minimum(np.maximum(margin, x2), ww)
    y1 = np.minimum(np.maximum(0, y1), hh - margin)
    y2 = np.minimum(np.maximum(margin, y2), hh)
    return np.stack([x1, y1, np.maximum(margin, x2 - x1), np.maximum(margin, y2 - y1)], axis=1)
