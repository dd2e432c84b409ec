"""Batched box operations in torch.

Every function takes tensors of shape ``(..., 4)`` (any leading batch shape, float32 or
float64, any device) and works elementwise over the leading dimensions (pairs, not an
all-against-all matrix). Formats:

* ``xywh``   -- x, y of the top-left corner, width, height (what every benchmark stores);
* ``xyxy``   -- top-left and bottom-right corners, continuous (``x2 = x + w``, no +1);
* ``cxcywh`` -- centre and size (what the trackers' heads predict).

These are the continuous-coordinate definitions (got10k toolkit convention). The
pixel-inclusive ``+1`` conventions of the pytracking / MATLAB / TrackingNet scorers live in
:mod:`trackkit.eval.protocols`, next to the rules that use them.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "xywh_to_xyxy", "xyxy_to_xywh", "xywh_to_cxcywh", "cxcywh_to_xywh", "xyxy_to_cxcywh",
    "cxcywh_to_xyxy", "box_area", "box_iou", "box_giou", "center_error",
    "normalized_center_error", "clip_boxes",
]


def xywh_to_xyxy(b: Tensor) -> Tensor:
    xy, wh = b[..., :2], b[..., 2:]
    return torch.cat([xy, xy + wh], dim=-1)


def xyxy_to_xywh(b: Tensor) -> Tensor:
    p1, p2 = b[..., :2], b[..., 2:]
    return torch.cat([p1, p2 - p1], dim=-1)


def xywh_to_cxcywh(b: Tensor) -> Tensor:
    xy, wh = b[..., :2], b[..., 2:]
    return torch.cat([xy + 0.5 * wh, wh], dim=-1)


def cxcywh_to_xywh(b: Tensor) -> Tensor:
    c, wh = b[..., :2], b[..., 2:]
    return torch.cat([c - 0.5 * wh, wh], dim=-1)


def xyxy_to_cxcywh(b: Tensor) -> Tensor:
    p1, p2 = b[..., :2], b[..., 2:]
    return torch.cat([0.5 * (p1 + p2), p2 - p1], dim=-1)


def cxcywh_to_xyxy(b: Tensor) -> Tensor:
    c, half = b[..., :2], 0.5 * b[..., 2:]
    return torch.cat([c - half, c + half], dim=-1)


def box_area(b: Tensor, fmt: str = "xywh") -> Tensor:
    """Area; negative sizes count as empty (area 0)."""
    if fmt == "xyxy":
        b = xyxy_to_xywh(b)
    elif fmt == "cxcywh":
        b = cxcywh_to_xywh(b)
    return b[..., 2].clamp(min=0) * b[..., 3].clamp(min=0)


def _to_xyxy(b: Tensor, fmt: str) -> Tensor:
    if fmt == "xyxy":
        return b
    if fmt == "xywh":
        return xywh_to_xyxy(b)
    if fmt == "cxcywh":
        return cxcywh_to_xyxy(b)
    raise ValueError(f"unknown box format {fmt!r} (xywh, xyxy, cxcywh)")


def _inter_union(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(dim=-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(dim=-1)
    return inter, area_a + area_b - inter


def box_iou(a: Tensor, b: Tensor, fmt: str = "xywh", eps: float = 0.0) -> Tensor:
    """Elementwise IoU of broadcastable box tensors, in [0, 1].

    Two empty boxes have IoU 0 (not NaN). ``eps`` is added to the union like the got10k
    toolkit does (``np.finfo(float).eps``) when you want its exact numbers.
    """
    a, b = _to_xyxy(a, fmt), _to_xyxy(b, fmt)
    inter, union = _inter_union(a, b)
    union = union + eps
    iou = torch.where(union > 0, inter / torch.where(union > 0, union, torch.ones_like(union)),
                      torch.zeros_like(union))
    return iou.clamp(0.0, 1.0)


def box_giou(a: Tensor, b: Tensor, fmt: str = "xywh") -> Tensor:
    """Generalized IoU (Rezatofighi et al. 2019), in [-1, 1]; ``giou <= iou``."""
    a, b = _to_xyxy(a, fmt), _to_xyxy(b, fmt)
    inter, union = _inter_union(a, b)
    safe_union = torch.where(union > 0, union, torch.ones_like(union))
    iou = torch.where(union > 0, inter / safe_union, torch.zeros_like(union))
    lt = torch.minimum(a[..., :2], b[..., :2])
    rb = torch.maximum(a[..., 2:], b[..., 2:])
    hull = (rb - lt).clamp(min=0).prod(dim=-1)
    safe_hull = torch.where(hull > 0, hull, torch.ones_like(hull))
    penalty = torch.where(hull > 0, (hull - union) / safe_hull, torch.zeros_like(hull))
    return (iou - penalty).clamp(-1.0, 1.0)


def center_error(a: Tensor, b: Tensor, fmt: str = "xywh") -> Tensor:
    """Euclidean distance between box centres (pixels)."""
    ca = xyxy_to_cxcywh(_to_xyxy(a, fmt))[..., :2]
    cb = xyxy_to_cxcywh(_to_xyxy(b, fmt))[..., :2]
    return torch.linalg.vector_norm(ca - cb, dim=-1)


def normalized_center_error(pred: Tensor, gt: Tensor, fmt: str = "xywh") -> Tensor:
    """Centre error with each axis divided by the ground-truth size (TrackingNet's
    normalized precision). Not symmetric: ``gt`` is the second argument."""
    cp = xyxy_to_cxcywh(_to_xyxy(pred, fmt))
    cg = xyxy_to_cxcywh(_to_xyxy(gt, fmt))
    return torch.linalg.vector_norm((cp[..., :2] - cg[..., :2]) / cg[..., 2:], dim=-1)


def clip_boxes(b: Tensor, width: float | Tensor, height: float | Tensor, fmt: str = "xywh") -> Tensor:
    """Clip boxes to the image ``[0, width] x [0, height]``; returns the same format.

    For ``xywh`` this is the got10k toolkit's rule: clip x to [0, W], then w to [0, W - x].
    """
    xyxy = _to_xyxy(b, fmt)
    zero = torch.zeros((), dtype=b.dtype, device=b.device)
    w = torch.as_tensor(width, dtype=b.dtype, device=b.device)
    h = torch.as_tensor(height, dtype=b.dtype, device=b.device)
    x1 = torch.minimum(torch.maximum(xyxy[..., 0], zero), w)
    y1 = torch.minimum(torch.maximum(xyxy[..., 1], zero), h)
    x2 = torch.minimum(torch.maximum(xyxy[..., 2], x1), w)
    y2 = torch.minimum(torch.maximum(xyxy[..., 3], y1), h)
    out = torch.stack([x1, y1, x2, y2], dim=-1)
    if fmt == "xyxy":
        return out
    if fmt == "xywh":
        return xyxy_to_xywh(out)
    return xyxy_to_cxcywh(out)
