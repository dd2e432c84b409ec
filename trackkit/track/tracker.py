"""Online tracking with a one-stream model (OSTrack's ``lib/test/tracker/ostrack.py``).

Per sequence: crop the template around the initial box (template_factor, template_size) once;
every later frame, crop the search region around the previous box (search_factor,
search_size), run the model, multiply the score map by a Hanning window, decode a normalised
cx, cy, w, h in the search crop, map it back to the image and clip it. No template update.

Every step works on a batch of sequences (one row per sequence, no row depends on another),
so :class:`OneStreamTracker` tracks one sequence and :mod:`trackkit.track.batched` runs many
through the same two methods, :meth:`OneStreamTracker.make_template` and
:meth:`OneStreamTracker.locate`.

Reading: OSTrack scales the prediction by ``search_size / resize_factor`` in float32 (a torch
tensor) before the float64 map-back; here the whole post-processing is float64 (differences
are far below a pixel).
"""
from __future__ import annotations

import contextlib
import math
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from trackkit.track.config import TrackConfig
from trackkit.track.crop import box_in_crop, normalize, sample_crops, stack_frames


@runtime_checkable
class Tracker(Protocol):
    """What the runner drives: one sequence at a time.

    ``initialize`` gets frame 0, its box (x, y, w, h px) and the :class:`Sequence` (trackers
    that need nothing beyond the frames ignore it); ``track`` returns the box for the next
    frame as a float64 ``(4,)`` x, y, w, h array.
    """

    name: str

    def initialize(self, frame: np.ndarray, box: np.ndarray, sequence=None) -> None: ...

    def track(self, frame: np.ndarray) -> np.ndarray: ...


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


@contextlib.contextmanager
def batch_invariant_convolutions(model: torch.nn.Module):
    """Run every float32 CPU ``Conv2d`` of ``model`` through oneDNN, whatever the batch size.

    PyTorch picks the CPU convolution kernel per call: its native im2col + GEMM for a single
    small input, oneDNN from batch 2 (NNPACK from 16 when oneDNN is off); the native kernel's
    GEMM threads differently when it runs alone than inside the per-sample parallel loop. Each
    sums in another order, so a sequence's boxes would depend on how many sequences share its
    batch. oneDNN's direct convolution gave identical rows for batch 1, 2, 3 and 16 on every
    head / patch-embedding shape tried (contiguous and channels-last inputs). Other devices,
    dtypes and padding modes keep the module's own forward.
    """
    patched = []
    for m in model.modules():
        if type(m) is torch.nn.Conv2d and m.padding_mode == "zeros" and isinstance(m.padding, tuple):
            m.forward = _onednn_forward(m)  # instance attribute shadows the class method
            patched.append(m)
    try:
        yield
    finally:
        for m in patched:
            del m.forward


def _onednn_forward(conv: torch.nn.Conv2d):
    def forward(x):
        if x.device.type != "cpu" or x.dtype != torch.float32 or not torch.backends.mkldnn.is_available():
            return torch.nn.Conv2d.forward(conv, x)
        # one memory layout for every batch size (a token map reshaped to B, C, H, W is
        # channels-last-like, with a batch stride that depends on B)
        return torch.mkldnn_convolution(x.contiguous(), conv.weight, conv.bias, conv.padding, conv.stride,
                                        conv.dilation, conv.groups)
    return forward


class OneStreamTracker:
    """OSTrack-style tracker around a one-stream model.

    Args:
        model: ``model(template, search, template_box=None, keep_rate=None)`` and
            ``model.decode(out, window=None) -> (B, 4)`` normalised cx, cy, w, h;
            ``model.feat_size`` (side of the score map).
        track_cfg: crop sizes / factors, Hanning on/off, clip margin, normalisation.
        device: where crops are made and the model runs.
        dtype: the model's floating type.
        name: used as the result folder name.
        batch_invariant: on CPU, run every convolution through oneDNN whatever the batch size
            (:func:`batch_invariant_convolutions`). PyTorch otherwise picks the convolution
            kernel by batch size and the float32 sums differ in the last bits, so the boxes of
            a sequence would depend on how many sequences share its batch. See
            :mod:`trackkit.track.batched`. No effect on other devices.
    """

    def __init__(self, model: torch.nn.Module, track_cfg: TrackConfig, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, name: str = "ostrack", batch_invariant: bool = True):
        self.cfg = track_cfg
        self.device = torch.device(device)
        self.dtype = dtype
        self.name = name
        self.batch_invariant = batch_invariant
        self.model = model.to(device=self.device, dtype=dtype).eval()
        feat = getattr(model, "feat_size", None)
        self.window = None
        if track_cfg.hanning and feat is not None:
            self.window = hann2d(int(feat)).to(device=self.device, dtype=dtype)
        self._state = None

    # -- batched primitives: one row per sequence, rows never interact ----------------------
    def make_template(self, frames, boxes: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Template crops ``(B, 3, t, t)`` and template boxes ``(B, 4)`` (normalised x1, y1, w, h
        in the template crop) for frames and their initial boxes."""
        c = self.cfg
        imgs, sizes = stack_frames(frames, self.device)
        crops, rf = sample_crops(imgs, sizes, boxes, c.template_factor, c.template_size, c.border_quirk)
        tbox = box_in_crop(boxes, boxes, rf, c.template_size)
        z = normalize(crops, c.mean, c.std).to(self.dtype)
        return z, torch.as_tensor(tbox, device=self.device, dtype=self.dtype)

    @torch.inference_mode()
    def locate(self, frames, template: torch.Tensor, template_box: torch.Tensor, prev: np.ndarray) -> np.ndarray:
        """One tracking step for a batch: new ``(B, 4)`` x, y, w, h boxes (float64)."""
        c = self.cfg
        imgs, sizes = stack_frames(frames, self.device)
        crops, rf = sample_crops(imgs, sizes, prev, c.search_factor, c.search_size, c.border_quirk)
        x = normalize(crops, c.mean, c.std).to(self.dtype)
        with self._conv_kernels():
            out = self.model(template, x, template_box=template_box)
        pred = self.model.decode(out, window=self.window).detach().to("cpu", torch.float64).numpy()
        return clip_box(map_box_back(pred, prev, rf, c.search_size), sizes, c.clip_margin)

    def _conv_kernels(self) -> contextlib.AbstractContextManager:
        if self.batch_invariant and self.device.type == "cpu":
            return batch_invariant_convolutions(self.model)
        return contextlib.nullcontext()

    # -- Tracker protocol --------------------------------------------------------------------
    def initialize(self, frame: np.ndarray, box: np.ndarray, sequence=None) -> None:
        box = np.asarray(box, dtype=np.float64).reshape(1, 4)
        z, zb = self.make_template([frame], box)
        self._state = (z, zb, box)

    def track(self, frame: np.ndarray) -> np.ndarray:
        if self._state is None:
            raise RuntimeError("call initialize() before track()")
        z, zb, prev = self._state
        box = self.locate([frame], z, zb, prev)
        self._state = (z, zb, box)
        return box[0]


def from_preset(name_or_preset, weights: str | None = None, device: str | torch.device = "cpu",
                dtype: torch.dtype = torch.float32, overrides=(), batch_invariant: bool = True) -> OneStreamTracker:
    """Build a tracker from a named preset (``trackkit.models.get_preset``).

    ``weights``: a trackkit checkpoint (``save_model``) or any state dict file the models
    package reads (official ``net`` / ``model`` / ``state_dict`` wrappers, ``module.`` prefixes);
    it must fit the preset's network exactly. Without weights the network keeps its
    initialisation (useful only for speed measurements).
    """
    from trackkit.errors import DataError
    from trackkit.models import build_model, get_preset
    from trackkit.models.weights import read_state_dict

    preset = get_preset(name_or_preset, list(overrides))
    model = build_model(preset, load_pretrained_weights=weights is None)
    if weights is not None:
        sd = read_state_dict(weights)
        missing, unexpected = model.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise DataError(weights, f"weights do not fit preset {preset.name!r}: missing keys {sorted(missing)[:5]}"
                                     f"{' ...' if len(missing) > 5 else ''}, unexpected keys {sorted(unexpected)[:5]}"
                                     f"{' ...' if len(unexpected) > 5 else ''}")
    return OneStreamTracker(model, preset.track, device=device, dtype=dtype, name=preset.name,
                            batch_invariant=batch_invariant)
