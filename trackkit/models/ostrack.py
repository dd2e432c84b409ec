"""OSTrack: one-stream ViT backbone (+ candidate elimination) and a box head.

``out = model(template, search, template_box=None, keep_rate=None)`` returns the head's
outputs ('boxes' (B,4) normalised cx,cy,w,h; the center head also 'score_map' (B,1,F,F),
'size_map', 'offset_map') plus 'keep_indices' / 'removed_indices' (one (B,n) tensor of
original search-token indices per CE block) and 'search_feat' (B,D,F,F), the restored
search features the head saw.
"""
from __future__ import annotations

import torch
from torch import nn

from trackkit.models.config import ModelConfig
from trackkit.models.heads import CenterHead, CornerHead, tokens_to_map
from trackkit.models.onestream import OneStreamViT, set_trainable


def build_backbone(cfg: ModelConfig) -> OneStreamViT:
    return OneStreamViT(
        embed_dim=cfg.embed_dim, depth=cfg.depth, num_heads=cfg.num_heads,
        mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias, patch_size=cfg.patch_size,
        norm_eps=cfg.norm_eps, drop_path_rate=cfg.drop_path_rate,
        pretrained_grid=cfg.pretrained_grid, template_size=cfg.template_size,
        search_size=cfg.search_size, cls_token=cfg.cls_token, pre_norm=cfg.pre_norm,
        ce_loc=cfg.ce_loc, ce_keep_ratio=cfg.keep_ratios,
        ce_template_range=cfg.ce_template_range, fused_attn=cfg.fused_attn)


def build_head(cfg: ModelConfig) -> nn.Module:
    if cfg.head == "center":
        return CenterHead(cfg.embed_dim, cfg.head_channels, cfg.feat_size)
    return CornerHead(cfg.embed_dim, cfg.head_channels, cfg.feat_size, cfg.bottleneck_dim)


class OSTrack(nn.Module):
    def __init__(self, backbone: OneStreamViT, box_head: nn.Module, cfg: ModelConfig):
        super().__init__()
        self.backbone = backbone
        self.box_head = box_head
        self.cfg = cfg
        self.feat_size = cfg.feat_size
        self.head_type = box_head.head_type

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> "OSTrack":
        model = cls(build_backbone(cfg), build_head(cfg), cfg)
        model.set_trainable(cfg.trainable)
        return model

    def set_trainable(self, spec: str) -> None:
        """Backbone switch ('all' | 'none' | 'last:N' | 'norm'); heads always train."""
        set_trainable(self.backbone, spec)

    def forward(self, template: torch.Tensor, search: torch.Tensor,
                template_box: torch.Tensor | None = None, keep_rate: float | None = None) -> dict:
        feats = self.backbone(template, search, template_box=template_box, keep_rate=keep_rate)
        return self._head(feats)

    def _head(self, feats: dict) -> dict:
        out = self.box_head(feats["search"])
        out["keep_indices"] = feats["keep_indices"]
        out["removed_indices"] = feats["removed_indices"]
        out["search_feat"] = tokens_to_map(feats["search"], self.feat_size)
        return out

    def decode(self, out: dict, window: torch.Tensor | None = None, return_score: bool = False):
        """(B,4) normalised cx,cy,w,h; see the head's decode (the corner head ignores window)."""
        return self.box_head.decode(out, window=window, return_score=return_score)
