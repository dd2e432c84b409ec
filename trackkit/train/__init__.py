"""Training: the generic loop (clip sampling, batched crops and augmentation on the device,
AdamW with backbone lr multiplier, step lr, bit-exact checkpoint/resume, torchrun + DDP) and
the per-family task it runs (:mod:`trackkit.train.task`); focal / GIoU / L1 losses and
OSTrack's keep-rate schedule as shared parts.

    from trackkit.train import train
    log = train(model, task, sequences, cfg=preset.train, out_dir="runs/x")

(``trackkit.families.train_preset`` builds model and task from a preset.)

Names are imported lazily: ``trackkit.train.config`` (imported by every preset) stays light.
"""
from __future__ import annotations

import importlib

from trackkit.train.config import TrainConfig

_LAZY = {
    "ClipSampler": "sampler", "ClipSpec": "sampler", "ShardedBatchSampler": "sampler",
    "OneStreamPairTask": "task", "Task": "task", "ClipBatch": "augment",
    "TrackingLoss": "losses", "focal_loss": "losses", "gaussian_heatmap": "losses", "gaussian_radius": "losses",
    "build_optimizer": "schedule", "build_scheduler": "schedule", "keep_rate": "schedule",
    "make_batch": "augment", "train": "trainer",
}

__all__ = ["ClipBatch", "ClipSampler", "ClipSpec", "OneStreamPairTask", "ShardedBatchSampler", "Task",
           "TrackingLoss", "TrainConfig", "build_optimizer",
           "build_scheduler", "focal_loss", "gaussian_heatmap", "gaussian_radius", "keep_rate", "make_batch", "train"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"trackkit.train.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'trackkit.train' has no attribute {name!r}")
