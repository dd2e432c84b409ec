"""Training: OSTrack-style pair sampling, batched crops and augmentation on the device,
focal / GIoU / L1 losses, AdamW with backbone lr multiplier, step lr and CE keep-rate
schedules, bit-exact checkpoint/resume and torchrun + DDP.

    from trackkit.train import train
    log = train(model, sequences, cfg=preset.train, track=preset.track, out_dir="runs/x")

Names are imported lazily: ``trackkit.train.config`` (imported by every preset) stays light.
"""
from __future__ import annotations

import importlib

from trackkit.train.config import TrainConfig

_LAZY = {
    "PairSampler": "sampler", "PairSpec": "sampler", "ShardedBatchSampler": "sampler",
    "TrackingLoss": "losses", "focal_loss": "losses", "gaussian_heatmap": "losses", "gaussian_radius": "losses",
    "build_optimizer": "schedule", "build_scheduler": "schedule", "keep_rate": "schedule",
    "make_batch": "augment", "train": "trainer",
}

__all__ = ["PairSampler", "PairSpec", "ShardedBatchSampler", "TrackingLoss", "TrainConfig", "build_optimizer",
           "build_scheduler", "focal_loss", "gaussian_heatmap", "gaussian_radius", "keep_rate", "make_batch", "train"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"trackkit.train.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'trackkit.train' has no attribute {name!r}")
