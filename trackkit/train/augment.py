"""Batched training crops and augmentation on the device.

Pixels go from the frames to normalised crops in a few batched tensor ops
(:func:`trackkit.crop.sample_crops`, the same geometry the tracker uses at test time),
so the CPU only renders or decodes frames. Order as OSTrack's pipeline: grayscale (joint) ->
crop -> brightness ``x * f / 255`` clamped to [0, 1] -> horizontal flip -> mean/std.
Grayscale is applied to the crop rather than to the frame; bilinear resampling is linear, so
the two agree up to float rounding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from trackkit.crop import TrackConfig, box_in_crop, sample_crops, stack_frames
from trackkit.train.sampler import ClipSpec

# ITU-R BT.601 luma, the weights of cv2's RGB2GRAY used by OSTrack's ToGrayscale
_GRAY = (0.299, 0.587, 0.114)


@dataclass
class ClipBatch:
    """One training batch of clips on the device (B clips, T templates, S search frames each)."""

    templates: torch.Tensor      # (B, T, 3, Hz, Wz) normalised
    search: torch.Tensor         # (B, S, 3, Hx, Wx) normalised
    template_boxes: torch.Tensor  # (B, T, 4) x1, y1, w, h of the target in each template crop, /size
    search_boxes: torch.Tensor   # (B, S, 4) x1, y1, w, h of the target in each search crop, /size

    def __len__(self) -> int:
        return self.templates.shape[0]


def make_batch(specs: list[ClipSpec], template_frames, search_frames, track: TrackConfig,
               device: str | torch.device = "cpu") -> ClipBatch:
    """Crop, augment and normalise a batch of clips on ``device``.

    ``template_frames[b]`` / ``search_frames[b]`` are the frame lists of clip ``b``. Every crop
    of the batch is made in one call per kind (clip-major order); grayscale is per clip,
    brightness and flip per crop."""
    B, T, S = len(specs), len(specs[0].template_frames), len(specs[0].search_frames)
    zt, zsizes = stack_frames([f for fs in template_frames for f in fs], device)
    xt, xsizes = stack_frames([f for fs in search_frames for f in fs], device)
    zbox = np.concatenate([s.template_boxes for s in specs])
    xbox = np.concatenate([s.search_boxes for s in specs])
    xext = np.concatenate([s.search_extract for s in specs])
    quirk = getattr(track, "border_quirk", True)
    z, zrf = sample_crops(zt, zsizes, zbox, track.template_factor, track.template_size, quirk)
    x, xrf = sample_crops(xt, xsizes, xext, track.search_factor, track.search_size, quirk)
    zb = box_in_crop(zbox, zbox, zrf, track.template_size)
    xb = box_in_crop(xbox, xext, xrf, track.search_size)

    z = _grayscale(z, torch.tensor([s.gray for s in specs for _ in range(T)], device=device))
    x = _grayscale(x, torch.tensor([s.gray for s in specs for _ in range(S)], device=device))
    z = _brightness(z, [f for s in specs for f in s.bright_templates])
    x = _brightness(x, [f for s in specs for f in s.bright_search])
    z, zb = _flip(z, zb, [f for s in specs for f in s.flip_templates])
    x, xb = _flip(x, xb, [f for s in specs for f in s.flip_search])
    mean = torch.tensor(track.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(track.std, device=device).view(1, 3, 1, 1)
    f32 = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)
    z, x = (z - mean) / std, (x - mean) / std
    return ClipBatch(z.reshape(B, T, *z.shape[1:]), x.reshape(B, S, *x.shape[1:]),
                     f32(zb).reshape(B, T, 4), f32(xb).reshape(B, S, 4))


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
