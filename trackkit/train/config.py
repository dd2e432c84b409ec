"""Training settings. Defaults are OSTrack-B/256's (official config
``experiments/ostrack/vitb_256_mae_ce_32x4_ep300.yaml``)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 300
    samples_per_epoch: int = 60_000
    batch_size: int = 32
    lr: float = 4e-4
    weight_decay: float = 1e-4
    backbone_lr_mult: float = 0.1
    grad_clip: float = 0.1
    lr_drop_epoch: int = 240          # lr x0.1 from this epoch on
    # candidate-elimination keep-rate schedule (OSTrack): 1 before ce_start_epoch, cosine
    # to the preset's keep ratio until ce_start_epoch + ce_warm_epochs.
    ce_start_epoch: int = 20
    ce_warm_epochs: int = 80
    # loss weights: OSTrack 1 focal + 2 GIoU + 5 L1; SimTrack 0 focal + 2 GIoU + 5 L1
    focal_weight: float = 1.0
    giou_weight: float = 2.0
    l1_weight: float = 5.0
    # sampling and augmentation
    max_sample_interval: int = 200
    center_jitter: float = 3.0        # search crop; template uses 0
    scale_jitter: float = 0.25
    grayscale_prob: float = 0.05
    flip_prob: float = 0.5
    brightness_jitter: float = 0.2
    amp: bool = True                  # only on CUDA
    num_workers: int = 0
