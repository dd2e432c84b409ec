"""Optimiser, learning-rate steps and the candidate-elimination keep-rate schedule (OSTrack).

Epochs are counted from 1 here, as in the official LTR trainer: epoch ``e`` of ``E`` trains
at ``lr`` while ``e <= lr_drop_epoch`` and at ``0.1 * lr`` after (``StepLR`` stepped once per
epoch), and uses keep rate ``keep_rate(e)``.
"""
from __future__ import annotations

import math

import torch

from trackkit.train.config import TrainConfig


def keep_rate(epoch: int, base: float | None, start: int, warm: int) -> float | None:
    """OSTrack's ``adjust_keep_rate`` with one iteration per epoch.

    1 before ``start``; ``base + (1 - base) * (cos((e - start) / warm * pi) + 1) / 2`` until
    ``start + warm``; ``base`` from then on. ``None`` when the model has no elimination.
    """
    if base is None:
        return None
    if epoch < start:
        return 1.0
    if epoch >= start + warm:
        return float(base)
    return float(base + (1 - base) * (math.cos((epoch - start) / warm * math.pi) + 1) / 2)


def param_groups(model: torch.nn.Module, cfg: TrainConfig) -> list[dict]:
    """Two AdamW groups: parameters whose name contains ``backbone`` get ``lr * backbone_lr_mult``.

    Frozen parameters (``requires_grad=False``) are left out, as in OSTrack.
    """
    rest = [p for n, p in model.named_parameters() if "backbone" not in n and p.requires_grad]
    backbone = [p for n, p in model.named_parameters() if "backbone" in n and p.requires_grad]
    groups = [{"params": rest, "lr": cfg.lr, "name": "head"}]
    if backbone:
        groups.append({"params": backbone, "lr": cfg.lr * cfg.backbone_lr_mult, "name": "backbone"})
    return groups


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    """lr x0.1 after ``lr_drop_epoch`` epochs (step once per epoch)."""
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, cfg.lr_drop_epoch), gamma=0.1)
