"""A tiny one-stream model with the trackkit model interface, for tests and benchmarks.

It is not a tracker anyone should use: a strided-conv patch embedding, one cross-attention
from search to template tokens (so it has the matmuls whose batch behaviour matters) and
OSTrack's centre-head outputs and decode (argmax of the windowed score map, offset, size).
"""
from __future__ import annotations

import math

import torch
from torch import nn


class ToyOneStream(nn.Module):
    head_type = "center"

    def __init__(self, dim: int = 32, patch: int = 16, search_size: int = 256, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.patch = patch
        self.feat_size = search_size // patch
        self.embed = nn.Conv2d(3, dim, patch, patch)
        self.box_embed = nn.Linear(4, dim)
        self.mix = nn.Linear(dim, dim)
        self.head = nn.Conv2d(dim, 5, 3, padding=1)  # score, offset x/y, size w/h
        with torch.no_grad():  # seeded init, independent of the global RNG
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * (0.5 / math.sqrt(max(1, p[0].numel()))))

    def forward(self, template, search, template_box=None, keep_rate=None):
        z = self.embed(template).flatten(2).transpose(1, 2)
        x = self.embed(search).flatten(2).transpose(1, 2)
        if template_box is not None:
            # per token (not one row per sample): a Linear on a single row runs as a gemv, whose
            # summation order differs from the gemm of a batch
            z = z + self.box_embed(template_box[:, None].expand(-1, z.shape[1], -1))
        attn = torch.softmax(x @ z.transpose(1, 2) / math.sqrt(x.shape[-1]), dim=-1)
        x = x + self.mix(attn @ z)
        b, n, d = x.shape
        m = self.head(x.transpose(1, 2).reshape(b, d, self.feat_size, self.feat_size))
        return {
            "score_map": torch.sigmoid(m[:, :1]).clamp(1e-4, 1 - 1e-4),
            "offset_map": torch.sigmoid(m[:, 1:3]),
            "size_map": torch.sigmoid(m[:, 3:5]).clamp(1e-4, 1 - 1e-4),
        }

    def decode(self, out, window=None, return_score=False):
        score = out["score_map"][:, 0]
        if window is not None:
            score = score * window
        f = self.feat_size
        best, idx = score.flatten(1).max(1)
        rows = torch.arange(len(idx), device=idx.device)
        off = out["offset_map"].flatten(2)[rows, :, idx]
        size = out["size_map"].flatten(2)[rows, :, idx]
        cx = ((idx % f).to(off.dtype) + off[:, 0]) / f
        cy = ((idx // f).to(off.dtype) + off[:, 1]) / f
        boxes = torch.stack([cx, cy, size[:, 0], size[:, 1]], dim=1)
        return (boxes, best) if return_score else boxes
