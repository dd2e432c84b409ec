"""Batched training crops and augmentation on the device.

Pixels go from the frames to normalised crops in a few batched tensor ops
(:func:`trackkit.track.crop.sample_crops`, the same geometry the tracker uses at test time),
so the CPU only renders or decodes frames. Order as OSTrack's pipeline: grayscale (joint) ->
crop -> brightness ``x * f / 255`` clamped to [0, 1] -> horizontal flip -> mean/std.
Grayscale is applied to the crop rather than to the frame; bilinear resampling is linear, so
the two agree up to float rounding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from trackkit.track.config import TrackConfig
from trackkit.track.crop import box_in_crop, sample_crops, stack_frames
from trackkit.train.sampler import PairSpec

# ITU-R BT.601 luma, the weights of cv2's RGB2GRAY used by OSTrack's ToGrayscale
_GRAY = (0.299, 0.587, 0.114)


@dataclass
class PairBatch:
    """One training batch on the device."""

    template: torch.Tensor      # (B, 3, Hz, Wz) normalised
    search: torch.Tensor        # (B, 3, Hx, Wx) normalised
    template_box: torch.Tensor  # (B, 4) x1, y1, w, h of the target in the template crop, /size
    search_box: torch.Tensor    # (B, 4) x1, y1, w, h of the target in the search crop, /size

    def __len__(self) -> int:
        return self.template.shape[0]


def make_batch(specs: list[PairSpec], template_frames, search_frames, track: TrackConfig,
               device: str | torch.device = "cpu") -> PairBatch:
    """Crop, augment and normalise a batch of pairs on ``device``."""
    zt, zsizes = stack_frames(template_frames, device)
    xt, xsizes = stack_frames(search_frames, device)
    zbox = np.stack([s.template_box for s in specs])
    xbox = np.stack([s.search_box for s in specs])
    xext = np.stack([s.search_extract for s in specs])
    quirk = getattr(track, "border_quirk", True)
    z, zrf = sample_crops(zt, zsizes, zbox, track.template_factor, track.template_size, quirk)
    x, xrf = sample_crops(xt, xsizes, xext, track.search_factor, track.search_size, quirk)
    zb = box_in_crop(zbox, zbox, zrf, track.template_size)
    xb = box_in_crop(xbox, xext, xrf, track.search_size)

    gray = torch.tensor([s.gray for s in specs], device=device)
    z, x = _grayscale(z, gray), _grayscale(x, gray)
    z = _brightness(z, [s.bright_template for s in specs])
    x = _brightness(x, [s.bright_search for s in specs])
    z, zb = _flip(z, zb, [s.flip_template for s in specs])
    x, xb = _flip(x, xb, [s.flip_search for s in specs])
    mean = torch.tensor(track.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(track.std, device=device).view(1, 3, 1, 1)
    f32 = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)
    return PairBatch((z - mean) / std, (x - mean) / std, f32(zb), f32(xb))


def _grayscale(img: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    if not bool(which.any()):
        return img
    w = torch.tensor(_GRAY, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    g = (img * w).sum(1, keepdim=True).expand_as(img)
    return torch.where(which.view(-1, 1, 1, 1), g, img)


def _brightness(img: torch.Tensor, factors) -> torch.Tensor:
    """0..255 crops -> 0..1, times a per-sample factor, clamped (OSTrack's ToTensorAndJitter)."""
    f = torch.tensor(factors, dtype=img.dtype, device=img.device).view(-1, 1, 1, 1)
    return (img * (f / 255.0)).clamp(0.0, 1.0)


def _flip(img: torch.Tensor, boxes: np.ndarray, which) -> tuple[torch.Tensor, np.ndarray]:
    """Horizontal flip of the chosen samples; normalised x1 becomes ``1 - (x1 + w)``."""
    which_np = np.asarray(which, dtype=bool)
    if not which_np.any():
        return img, boxes
    sel = torch.as_tensor(which_np, device=img.device).view(-1, 1, 1, 1)
    img = torch.where(sel, img.flip(-1), img)
    boxes = boxes.copy()
    boxes[which_np, 0] = 1.0 - (boxes[which_np, 0] + boxes[which_np, 2])
    return img, boxes
