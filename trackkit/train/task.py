"""What a tracker family supplies to the generic trainer: a :class:`Task`.

The trainer (:func:`trackkit.train.trainer.train`) owns the loop — sampling, loader, AMP, DDP,
optimiser and schedule, exact resume, logging, progress. A task owns what differs per family:

- ``num_templates`` / ``num_search``: the clip shape the sampler draws
  (:class:`~trackkit.train.sampler.ClipSampler`; 1 and 1 = OSTrack's pairs), and optionally
  ``reverse_prob``: how often a clip's search frames are played backwards (default 0);
- ``begin_epoch(epoch)``: per-epoch settings (1-based epoch, as the official trainers count),
  e.g. OSTrack's candidate-elimination keep rate; returns what goes into the epoch's log;
- ``make_batch(specs, template_frames, search_frames, device)``: crops on the device;
- ``forward(net, batch)``: the network call (run under autocast);
- ``loss(out, batch) -> (total, parts)``: the loss and its parts (floats, logged).

:class:`OneStreamPairTask` is the task of template + search trackers trained on pairs with box
losses (OSTrack, SimTrack); a family subclasses it for its deltas.
"""
from __future__ import annotations

from typing import Any, Protocol

import torch

from trackkit.crop import TrackConfig
from trackkit.train.augment import ClipBatch, make_batch
from trackkit.train.config import TrainConfig
from trackkit.train.losses import TrackingLoss


class Task(Protocol):
    num_templates: int
    num_search: int
    reverse_prob: float

    def begin_epoch(self, epoch: int) -> dict: ...

    def make_batch(self, specs, template_frames, search_frames, device) -> Any: ...

    def forward(self, net: torch.nn.Module, batch) -> Any: ...

    def loss(self, out, batch) -> tuple[torch.Tensor, dict[str, float]]: ...


class OneStreamPairTask:
    """One template, one search frame; ``net(template, search, template_box=)``; focal + GIoU + L1
    on the search box (:class:`~trackkit.train.losses.TrackingLoss`, weights from ``cfg``)."""

    num_templates = 1
    num_search = 1
    reverse_prob = 0.0

    def __init__(self, cfg: TrainConfig, track: TrackConfig):
        self.track = track
        self.criterion = TrackingLoss(cfg.focal_weight, cfg.giou_weight, cfg.l1_weight)

    def begin_epoch(self, epoch: int) -> dict:
        return {}

    def make_batch(self, specs, template_frames, search_frames, device) -> ClipBatch:
        return make_batch(specs, template_frames, search_frames, self.track, device)

    def forward_kwargs(self) -> dict:
        """Extra keyword arguments of the network call (a family's per-epoch settings)."""
        return {}

    def forward(self, net: torch.nn.Module, batch: ClipBatch):
        return net(batch.templates[:, 0], batch.search[:, 0], template_box=batch.template_boxes[:, 0],
                   **self.forward_kwargs())

    def loss(self, out, batch: ClipBatch):
        return self.criterion(out, batch.search_boxes[:, 0])
