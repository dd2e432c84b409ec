"""The generic tracker: crops, map-back, per-sequence state, deploy step; a family supplies the rest.

A tracker family plugs in a :class:`TrackingPolicy` with three methods:

- ``deploy(model) -> model``: run once before tracking (``eval()``; re-parameterisation,
  fusing, caches ...);
- ``init(tracker, frames, boxes) -> State``: the per-sequence state from the first frames;
- ``step(tracker, frames, state, prev) -> Step``: one frame for every row: boxes in image
  pixels, the new state and per-frame records (score, exit layer, memory quality ...).

:class:`ModelTracker` owns everything that is the same for every family: the model on its
device in its dtype, the template / search crops (:mod:`trackkit.crop`), the Hanning window,
the map back to image coordinates and the clip, batch-invariant kernels and the previous box
of each sequence. It tracks one sequence through the :class:`Tracker` protocol and many at
once through :meth:`ModelTracker.init_batch` / :meth:`ModelTracker.step_batch`
(:mod:`trackkit.track.batched`).

**State** is a plain dict of tensors (or numpy arrays) whose first dimension is the batch:
a template crop, a token memory, a box history. Rows never interact, so a batch's state is
the concatenation of its sequences' states (:func:`cat_states`) and a sequence's state is a
one-row slice (:func:`index_state`): that is what keeps batched tracking bit-identical to
one-at-a-time tracking for every family.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from trackkit.crop import TrackConfig, box_in_crop, clip_box, hann2d, map_box_back, normalize, sample_crops, stack_frames
from trackkit.track.invariance import batch_invariant

State = dict  # name -> (B, ...) tensor or array


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


@dataclass
class Step:
    """What a family's step returns for a batch of B sequences."""

    boxes: np.ndarray                                   # (B, 4) x, y, w, h image px, float64
    state: State                                        # the new per-sequence state
    records: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (B,) per-frame values


class TrackingPolicy(Protocol):
    """A family's part of tracking (see the module docstring)."""

    def deploy(self, model: torch.nn.Module) -> torch.nn.Module: ...

    def init(self, tracker: "ModelTracker", frames, boxes: np.ndarray) -> State: ...

    def step(self, tracker: "ModelTracker", frames, state: State, prev: np.ndarray) -> Step: ...


def cat_states(states: list[State]) -> State:
    """Rows of many states stacked into one batch (same keys in each)."""
    if len(states) == 1:
        return states[0]
    out = {}
    for k, v in states[0].items():
        parts = [s[k] for s in states]
        out[k] = torch.cat(parts) if isinstance(v, torch.Tensor) else np.concatenate(parts)
    return out


def index_state(state: State, i: int) -> State:
    """Row ``i`` of a batch's state, kept as a batch of one."""
    return {k: v[i:i + 1] for k, v in state.items()}


class ModelTracker:
    """A network plus its family's tracking policy, on one device.

    Args:
        model: the network.
        policy: the family's :class:`TrackingPolicy`.
        track_cfg: crop sizes / factors, Hanning on/off, clip margin, normalisation.
        device: where crops are made and the model runs.
        dtype: the model's floating type.
        name: used as the result folder name.
        batch_invariant: on CPU, run the model with kernels whose rows do not depend on the
            batch size (:func:`trackkit.track.invariance.batch_invariant`: Conv2d and Linear
            through oneDNN, batched matmuls one sample at a time), so a sequence's boxes do not
            depend on how many sequences share its batch. Checked on the CPU presets with this
            CPU's own kernels and with AVX2 kernels emulated (an AMD EPYC's), at 1 and 2 threads
            (``tests/test_batch_invariance.py``); it costs time (see that module). No effect on
            other devices.
    """

    def __init__(self, model: torch.nn.Module, policy: TrackingPolicy, track_cfg: TrackConfig,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, name: str = "tracker",
                 batch_invariant: bool = True):
        self.cfg = track_cfg
        self.device = torch.device(device)
        self.dtype = dtype
        self.name = name
        self.batch_invariant = batch_invariant
        self.policy = policy
        self.model = policy.deploy(model.to(device=self.device, dtype=dtype))
        feat = getattr(model, "feat_size", None)
        self.window = None
        if track_cfg.hanning and feat is not None:
            self.window = hann2d(int(feat)).to(device=self.device, dtype=dtype)
        self._state: State | None = None
        self._prev: np.ndarray | None = None
        self.last_records: dict[str, float] = {}

    # -- what every family's policy uses ---------------------------------------------------
    def crop(self, frames, boxes: np.ndarray, which: str):
        """Normalised crops ``(B, 3, s, s)`` around ``boxes`` (x, y, w, h px) for ``which`` in
        ('template', 'search'), their resize factors ``(B,)`` and the frames' (H, W) ``(B, 2)``."""
        c = self.cfg
        factor, size = ((c.template_factor, c.template_size) if which == "template"
                        else (c.search_factor, c.search_size))
        imgs, sizes = stack_frames(frames, self.device)
        crops, rf = sample_crops(imgs, sizes, boxes, factor, size, c.border_quirk)
        return normalize(crops, c.mean, c.std).to(self.dtype), rf, sizes

    def box_in_template(self, boxes: np.ndarray, resize_factor: np.ndarray) -> torch.Tensor:
        """``(B, 4)`` normalised x1, y1, w, h of each box in its own template crop."""
        tbox = box_in_crop(boxes, boxes, resize_factor, self.cfg.template_size)
        return torch.as_tensor(tbox, device=self.device, dtype=self.dtype)

    def to_image(self, pred: torch.Tensor, prev: np.ndarray, resize_factor: np.ndarray,
                 sizes: np.ndarray) -> np.ndarray:
        """Normalised cx, cy, w, h in the search crop -> clipped x, y, w, h image boxes (float64)."""
        pred = pred.detach().to("cpu", torch.float64).numpy()
        return clip_box(map_box_back(pred, prev, resize_factor, self.cfg.search_size), sizes, self.cfg.clip_margin)

    def kernels(self) -> contextlib.AbstractContextManager:
        """Batch-invariant kernels around a forward (CPU, when enabled)."""
        if self.batch_invariant and self.device.type == "cpu":
            return batch_invariant(self.model)
        return contextlib.nullcontext()

    # -- batched primitives: one row per sequence, rows never interact ----------------------
    @torch.inference_mode()
    def init_batch(self, frames, boxes: np.ndarray) -> State:
        with self.kernels():
            return self.policy.init(self, frames, np.asarray(boxes, dtype=np.float64).reshape(-1, 4))

    @torch.inference_mode()
    def step_batch(self, frames, state: State, prev: np.ndarray) -> Step:
        with self.kernels():
            return self.policy.step(self, frames, state, np.asarray(prev, dtype=np.float64).reshape(-1, 4))

    # -- Tracker protocol --------------------------------------------------------------------
    def initialize(self, frame: np.ndarray, box: np.ndarray, sequence=None) -> None:
        box = np.asarray(box, dtype=np.float64).reshape(1, 4)
        self._state = self.init_batch([frame], box)
        self._prev = box
        self.last_records = {}

    def track(self, frame: np.ndarray) -> np.ndarray:
        if self._state is None:
            raise RuntimeError("call initialize() before track()")
        step = self.step_batch([frame], self._state, self._prev)
        self._state, self._prev = step.state, step.boxes
        self.last_records = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in step.records.items()}
        return step.boxes[0]
