"""Box heads on the (F x F) search feature map.

CenterHead: OSTrack's CenterPredictor (shared/reference/trackers.md). Three branches (score,
offset, size), each 4 x [Conv3x3(bias) + BN + ReLU] with channels C -> C/2 -> C/4 -> C/8, then
a 1x1 conv to 1 / 2 / 2; score and size are sigmoids clamped to [1e-4, 1-1e-4], offset is raw;
Xavier-uniform init of every weight with more than one dimension. Module names follow the
official layout (conv1_ctr.0 / .1, conv5_ctr ...) so converted checkpoints load unchanged.

CornerHead: STARK's corner predictor as SimTrack uses it: an optional Linear(D, 256)
bottleneck on the tokens, two branches (top-left, bottom-right) of Conv3x3+BN+ReLU
C -> C -> C/2 -> C/4 -> C/8 and a 1x1 conv to 1, soft-argmax over the map with coordinates
k / F (STARK: k * stride / img_size), boxes x1y1x2y2 -> cx,cy,w,h.

Both take search tokens (B, F*F, D) in raster order and return a dict with 'boxes' (B,4)
normalised cx, cy, w, h of the search crop.
"""
from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=True), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


def tokens_to_map(tokens: torch.Tensor, feat_size: int) -> torch.Tensor:
    """(B, F*F, C) raster-order tokens -> (B, C, F, F)."""
    B, N, C = tokens.shape
    return tokens.transpose(1, 2).reshape(B, C, feat_size, feat_size)


def _clamped_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x.sigmoid(), min=1e-4, max=1 - 1e-4)


class CenterHead(nn.Module):
    head_type = "center"

    def __init__(self, in_dim: int, channels: int = 256, feat_size: int = 16):
        super().__init__()
        self.feat_size = feat_size
        ch = [in_dim, channels, channels // 2, channels // 4, channels // 8]
        for branch, nout in (("ctr", 1), ("offset", 2), ("size", 2)):
            for j in range(4):
                setattr(self, f"conv{j + 1}_{branch}", conv_bn_relu(ch[j], ch[j + 1]))
            setattr(self, f"conv5_{branch}", nn.Conv2d(ch[4], nout, 1))
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def _branch(self, x, name):
        for j in range(1, 5):
            x = getattr(self, f"conv{j}_{name}")(x)
        return getattr(self, f"conv5_{name}")(x)

    def forward(self, tokens: torch.Tensor) -> dict:
        x = tokens_to_map(tokens, self.feat_size)
        score = _clamped_sigmoid(self._branch(x, "ctr"))
        size = _clamped_sigmoid(self._branch(x, "size"))
        offset = self._branch(x, "offset")
        out = {"score_map": score, "size_map": size, "offset_map": offset}
        out["boxes"] = self.decode(out)
        return out

    def decode(self, out: dict, window: torch.Tensor | None = None, return_score: bool = False):
        """Argmax of the (optionally window-multiplied) score map -> (B,4) cx,cy,w,h.

        box = [(ix + off_x) / F, (iy + off_y) / F, w, h] at the argmax cell (iy, ix).
        With return_score, also the (windowed) score at that cell, shape (B,).
        """
        score = out["score_map"]
        if window is not None:  # (F, F) tensor or array, e.g. the tracker's Hanning window
            score = score * torch.as_tensor(window).to(score)
        F_ = self.feat_size
        best, idx = score.flatten(1).max(dim=1, keepdim=True)
        iy, ix = idx // F_, idx % F_
        g = idx[:, None, :].expand(-1, 2, -1)
        size = out["size_map"].flatten(2).gather(2, g).squeeze(-1)
        off = out["offset_map"].flatten(2).gather(2, g).squeeze(-1)
        boxes = torch.cat([(ix + off[:, :1]) / F_, (iy + off[:, 1:]) / F_, size], dim=1)
        return (boxes, best.squeeze(1)) if return_score else boxes


class CornerHead(nn.Module):
    head_type = "corner"

    def __init__(self, in_dim: int, channels: int = 256, feat_size: int = 14,
                 bottleneck_dim: int = 256):
        super().__init__()
        self.feat_size = feat_size
        self.bottleneck = nn.Linear(in_dim, bottleneck_dim) if bottleneck_dim else nn.Identity()
        cin = bottleneck_dim or in_dim
        ch = [cin, channels, channels // 2, channels // 4, channels // 8]
        for branch in ("tl", "br"):
            for j in range(4):
                setattr(self, f"conv{j + 1}_{branch}", conv_bn_relu(ch[j], ch[j + 1]))
            setattr(self, f"conv5_{branch}", nn.Conv2d(ch[4], 1, 1))
        coord = torch.arange(feat_size, dtype=torch.float32) / feat_size
        self.register_buffer("coord_x", coord.repeat(feat_size), persistent=False)
        self.register_buffer("coord_y", coord.repeat_interleave(feat_size), persistent=False)

    def _branch(self, x, name):
        for j in range(1, 5):
            x = getattr(self, f"conv{j}_{name}")(x)
        return getattr(self, f"conv5_{name}")(x)

    def _soft_argmax(self, logits: torch.Tensor) -> torch.Tensor:
        p = logits.flatten(1).softmax(dim=1)
        return torch.stack([(p * self.coord_x).sum(1), (p * self.coord_y).sum(1)], dim=1)

    def forward(self, tokens: torch.Tensor) -> dict:
        x = tokens_to_map(self.bottleneck(tokens), self.feat_size)
        tl, br = self._branch(x, "tl"), self._branch(x, "br")
        xyxy = torch.cat([self._soft_argmax(tl), self._soft_argmax(br)], dim=1)
        boxes = torch.cat([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], dim=1)
        return {"boxes": boxes, "boxes_xyxy": xyxy, "corner_maps": torch.cat([tl, br], dim=1)}

    def decode(self, out: dict, window: torch.Tensor | None = None, return_score: bool = False):
        """The soft-argmax boxes; a window is ignored (SimTrack/STARK use none). The score is
        the mean of the two corner maps' peak probabilities."""
        boxes = out["boxes"]
        if not return_score:
            return boxes
        p = out["corner_maps"].flatten(2).softmax(dim=2).amax(dim=2).mean(dim=1)
        return boxes, p


def build_box_head(kind: str, in_dim: int, channels: int, feat_size: int, bottleneck_dim: int = 0) -> nn.Module:
    """'center' -> :class:`CenterHead`, 'corner' -> :class:`CornerHead` (with its bottleneck)."""
    if kind == "center":
        return CenterHead(in_dim, channels, feat_size)
    if kind == "corner":
        return CornerHead(in_dim, channels, feat_size, bottleneck_dim)
    raise ValueError(f"unknown box head {kind!r}: 'center' or 'corner'")


def search_outputs(box_head: nn.Module, feats: dict, feat_size: int) -> dict:
    """A box head on a one-stream backbone's restored search tokens: the head's outputs plus
    'keep_indices' / 'removed_indices' (candidate elimination) and 'search_feat' (B,D,F,F)."""
    out = box_head(feats["search"])
    out["keep_indices"] = feats["keep_indices"]
    out["removed_indices"] = feats["removed_indices"]
    out["search_feat"] = tokens_to_map(feats["search"], feat_size)
    return out
