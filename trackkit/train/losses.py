"""Tracking losses: OSTrack's weighted focal + GIoU + L1, SimTrack's GIoU + L1.

Facts (OSTrack ``lib/train/actors/ostrack.py`` and ``lib/utils/heapmap_utils.py``):

- Focal (CenterNet style, alpha 2, beta 4): positives where the target heatmap is exactly 1,
  negatives weighted by ``(1 - t)^beta``; summed over the whole batch and divided by the
  number of positives (by 1 when there is none).
- Target heatmap: for the ground-truth box scaled to the ``F x F`` grid, a Gaussian at the
  rounded box centre with radius ``r = int(gaussian_radius(w, h, 0.7))`` (CornerNet's formula
  as CenterNet / OSTrack write it: each root is ``(b + sqrt(b^2 - 4ac)) / 2``, not ``/ 2a``),
  ``sigma = (2r + 1) / 6``, truncated to the ``(2r+1)^2`` window, values below float64 eps
  zeroed. The rounding is ``torch.round`` (half to even).
- GIoU: ``(1 - giou).mean()`` on x1, y1, x2, y2 with the ground truth clamped to [0, 1]; 0 for
  the batch when any predicted box is inverted (the official actors' caught assertion);
  L1: mean absolute error on the normalised x1, y1, x2, y2 (the prediction is not clamped).
- Weights 1 / 2 / 5 (OSTrack) or 0 / 2 / 5 (SimTrack, whose corner head has no score map).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import box_convert, box_iou, generalized_box_iou_loss

from trackkit.errors import TrackkitError


def gaussian_radius(wh: torch.Tensor, min_overlap: float = 0.7) -> torch.Tensor:
    """CornerNet's radius for boxes of size ``wh`` (..., 2), in grid cells, as a float."""
    w, h = wh[..., 0].double(), wh[..., 1].double()
    b1 = h + w
    c1 = w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + torch.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2 = 2 * (h + w)
    c2 = (1 - min_overlap) * w * h
    r2 = (b2 + torch.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (h + w)
    c3 = (min_overlap - 1) * w * h
    r3 = (b3 + torch.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return torch.minimum(r1, torch.minimum(r2, r3))


def gaussian_heatmap(boxes: torch.Tensor, feat_size: int, min_overlap: float = 0.7) -> torch.Tensor:
    """Target heatmaps ``(B, 1, F, F)`` for boxes ``(B, 4)`` x1, y1, w, h normalised to the crop.

    A centre outside the grid draws only the part of the window that falls inside (the
    official slicing misbehaves there; the pair sampler never puts the centre outside).
    """
    box = boxes.detach().double() * feat_size
    wh = box[:, 2:]
    centre = torch.round(box[:, :2] + wh / 2)
    radius = gaussian_radius(wh, min_overlap).clamp_min(0).floor()  # int(): truncation
    sigma = (2 * radius + 1) / 6
    grid = torch.arange(feat_size, dtype=torch.float64, device=boxes.device)
    dx = grid.view(1, 1, -1) - centre[:, 0].view(-1, 1, 1)
    dy = grid.view(1, -1, 1) - centre[:, 1].view(-1, 1, 1)
    g = torch.exp(-(dx ** 2 + dy ** 2) / (2 * sigma.view(-1, 1, 1) ** 2))
    r = radius.view(-1, 1, 1)
    g = g * ((dx.abs() <= r) & (dy.abs() <= r))
    g = torch.where(g < np.finfo(np.float64).eps, torch.zeros_like(g), g)
    return g.float().unsqueeze(1)


def focal_loss(pred: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet's weighted focal loss; ``pred`` in (0, 1) (the head clamps its sigmoid)."""
    pred = pred.float().clamp(min=1e-12)
    pos = target.eq(1).float()
    neg = target.lt(1).float()
    pos_loss = (torch.log(pred) * (1 - pred) ** alpha * pos).sum()
    neg_loss = (torch.log(1 - pred) * pred ** alpha * (1 - target) ** beta * neg).sum()
    num_pos = pos.sum()
    return -(pos_loss + neg_loss) / num_pos.clamp(min=1)


class TrackingLoss:
    """``focal_weight * focal + giou_weight * GIoU + l1_weight * L1``.

    Call with the model output dict (``boxes`` (B, 4) cx, cy, w, h normalised; ``score_map``
    (B, 1, F, F) when the focal weight is not 0) and the target boxes (B, 4) x1, y1, w, h
    normalised to the search crop. Returns the total and the parts (floats, for logging).
    """

    def __init__(self, focal_weight: float = 1.0, giou_weight: float = 2.0, l1_weight: float = 5.0):
        self.focal_weight, self.giou_weight, self.l1_weight = focal_weight, giou_weight, l1_weight

    def __call__(self, out: dict, target_xywh: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        pred = out["boxes"].float()
        if torch.isnan(pred).any():
            raise TrackkitError("the network output NaN boxes; stopping training")
        pred_xyxy = box_convert(pred, "cxcywh", "xyxy")
        gt_xyxy = box_convert(target_xywh.float(), "xywh", "xyxy").clamp(0.0, 1.0)
        if bool((pred_xyxy[:, 2:] >= pred_xyxy[:, :2]).all()):
            giou = generalized_box_iou_loss(pred_xyxy, gt_xyxy, reduction="mean")
        else:
            # An inverted box (x2 < x1: a corner head's bottom-right left of its top-left) makes
            # GIoU meaningless (it can exceed 1 and drive the loss negative). The official
            # actors (STARK / SimTrack / OSTrack) catch giou_loss's assertion and use 0 for
            # the whole batch; L1 alone then pulls the corners back in order.
            giou = pred_xyxy.new_zeros(())
        l1 = F.l1_loss(pred_xyxy, gt_xyxy)
        total = self.giou_weight * giou + self.l1_weight * l1
        parts = {"giou": float(giou.detach()), "l1": float(l1.detach())}
        if self.focal_weight:
            if "score_map" not in out:
                raise TrackkitError("focal_weight > 0 but the model has no score map (corner head?); "
                                    "set train.focal_weight=0")
            score = out["score_map"]
            target = gaussian_heatmap(target_xywh, score.shape[-1]).to(score.device)
            focal = focal_loss(score, target)
            total = total + self.focal_weight * focal
            parts["focal"] = float(focal.detach())
        with torch.no_grad():
            ordered = torch.cat([pred_xyxy[:, :2], pred_xyxy[:, 2:].maximum(pred_xyxy[:, :2])], 1)
            parts["iou"] = float(box_iou(ordered, gt_xyxy).diagonal().mean())
        parts["total"] = float(total.detach())
        return total, parts
