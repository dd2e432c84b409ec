"""SimTrack: one-branch ViT with a foveal window and a distinguishable template position embedding.

Readings (papers/simtrack.md, shared/reference/trackers.md, the public code's behaviour):
- Token order [template | cls | search | foveal]; the foveal tokens are dropped after the
  backbone and the corner head reads the search tokens (after a Linear(D, 256) bottleneck).
- Foveal window (official clipvit16.py, all geometries): a ``foveal_size`` px crop of the
  template is embedded with the same patch projection. With t, f the template and window
  sides in patches and p = (t - f) // 2, the crop starts at (t - f) * P / 2 px (the centre;
  Sim-B/16: 24 px, half a patch off the template grid), except where (t - f) % (2 f) == 0,
  where the official code shifts the template by half a patch and takes patches p .. p+f-1,
  i.e. starts at p * P + P / 2. Foveal token (i, j) gets the mean of the template position
  embeddings of cells (p+i, p+j) and (p+i+1, p+j+1) -- also when its patch coincides with
  cell (p+i, p+j) (t - f even, no shift), as the official code does.
- Distinguishable position embedding (dist_pos_embed=True): for each template patch,
  R = fraction of the patch covered by the target box, input [(R+1)/2, cx, cy] with the patch
  centre normalised to the template; FCs = Linear(3, D/2) -> ReLU -> Linear(D/2, D) -> Sigmoid,
  then *2-1. It replaces the template position embedding (no learned template pos is added).
  With dist_pos_embed=False (the paper's '+Sim' ablation) the resampled learned template
  pos embed is used instead.
- The search pos embed is the pretrained grid resampled to the search grid (identity at
  224 px / 16) and the cls token keeps its pretrained embedding.
- Backbone (simtrack-b16): OpenAI CLIP ViT-B/16 as the official clipvit16.py runs it: ln_pre
  over all tokens after the position embeddings, LayerNorm eps 1e-5, QuickGELU MLPs, no
  patch-projection bias, ln_post on all tokens.
- Template box at tracking time: see :func:`simtrack_template_box` (the official tracker
  assumes the target centred in the template crop).
"""
from __future__ import annotations

import torch
from torch import nn

from trackkit.models.config import ModelConfig
from trackkit.models.ostrack import OSTrack, build_head
from trackkit.models.onestream import OneStreamViT, set_trainable


def patch_box_ratio(template_box: torch.Tensor, grid: int) -> torch.Tensor:
    """(B,4) x1,y1,w,h in [0,1] -> (B, grid*grid) fraction of each patch covered by the box."""
    b = template_box.to(torch.float32)
    x1, y1 = b[:, 0:1].clamp(0, 1), b[:, 1:2].clamp(0, 1)
    x2, y2 = (b[:, 0:1] + b[:, 2:3]).clamp(0, 1), (b[:, 1:2] + b[:, 3:4]).clamp(0, 1)
    edges = torch.arange(grid + 1, device=b.device, dtype=torch.float32) / grid
    lo, hi = edges[:-1][None], edges[1:][None]  # (1, grid)
    ox = (torch.minimum(hi, x2) - torch.maximum(lo, x1)).clamp(min=0) * grid  # (B, grid)
    oy = (torch.minimum(hi, y2) - torch.maximum(lo, y1)).clamp(min=0) * grid
    return (oy[:, :, None] * ox[:, None, :]).flatten(1)


def simtrack_template_box(boxes_xywh_px, resize_factor, template_size: int) -> torch.Tensor:
    """The template box the official SimTrack tracker feeds the distinguishable embedding.

    boxes_xywh_px: (B,4) or (4,) target box x,y,w,h in image pixels (the box the template crop
    was cut around; x, y are not used). resize_factor: float or (B,) template crop scale
    (template_size / crop side, as the crop returns it). Returns (B,4) float32 x1,y1,w,h
    normalised by template_size.

    Reading of LPXTT/SimTrack lib/test/tracker/simtrack.py (initialize): the size is the image
    box size times the resize factor, in float32 and not rounded; the corner assumes the target
    centred on the crop, at size/2 - size_wh/2, truncated towards zero by int() (so -68.4 ->
    -68 for a target wider than the crop, not floor's -69). The rounding of the crop origin is
    ignored, as there.
    """
    b = torch.as_tensor(boxes_xywh_px, dtype=torch.float32)
    b = b.reshape(-1, 4)
    rf = torch.as_tensor(resize_factor, dtype=torch.float32).reshape(-1, 1)
    wh = b[:, 2:] * rf
    corner = torch.trunc(template_size / 2 - wh / 2)
    return torch.cat([corner, wh], dim=1) / template_size


class SimTrack(OSTrack):
    def __init__(self, backbone, box_head, cfg: ModelConfig):
        super().__init__(backbone, box_head, cfg)
        D, g = cfg.embed_dim, cfg.template_grid
        self.pos_fc = nn.Sequential(nn.Linear(3, D // 2), nn.ReLU(), nn.Linear(D // 2, D),
                                    nn.Sigmoid()) if cfg.dist_pos_embed else None
        centres = (torch.arange(g, dtype=torch.float32) + 0.5) / g
        self.register_buffer("patch_cx", centres.repeat(g), persistent=False)
        self.register_buffer("patch_cy", centres.repeat_interleave(g), persistent=False)
        if cfg.foveal_size:
            P = cfg.patch_size
            fg = cfg.foveal_size // P
            p = (g - fg) // 2
            shifted = (g - fg) % (2 * fg) == 0
            self.foveal_px = p * P + P // 2 if shifted else (g - fg) * P // 2
            lo = p + torch.arange(fg)
            hi = lo + 1  # < g since p + fg <= g - 1 whenever fg < g
            idx_lo = (lo[:, None] * g + lo[None, :]).flatten()
            idx_hi = (hi[:, None] * g + hi[None, :]).flatten()
            self.register_buffer("foveal_lo", idx_lo, persistent=False)
            self.register_buffer("foveal_hi", idx_hi, persistent=False)

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> "SimTrack":
        model = cls(OneStreamViT.from_config(cfg), build_head(cfg), cfg)
        model.set_trainable(cfg.trainable)
        return model

    def set_trainable(self, spec: str) -> None:
        set_trainable(self.backbone, spec)
        if self.pos_fc is not None:
            # replaced by the distinguishable embedding: never used, so never trained (DDP
            # would otherwise wait for its gradient)
            self.backbone.pos_embed_z.requires_grad_(False)

    def template_pos(self, template_box: torch.Tensor | None, batch: int) -> torch.Tensor:
        """(B or 1, Nz, D) template position embedding."""
        if self.pos_fc is None:
            return self.backbone.pos_embed_z
        if template_box is None:
            raise ValueError("SimTrack's distinguishable position embedding needs template_box "
                             "(B,4) x1,y1,w,h of the target in the template crop, in [0,1]")
        r = (patch_box_ratio(template_box, self.cfg.template_grid) + 1) / 2
        cx = self.patch_cx.expand(batch, -1)
        cy = self.patch_cy.expand(batch, -1)
        inp = torch.stack([r, cx, cy], dim=-1).to(self.backbone.pos_embed_z.dtype)
        return self.pos_fc(inp) * 2 - 1

    def forward(self, template, search, template_box=None, keep_rate=None) -> dict:
        B = template.shape[0]
        zpos = self.template_pos(template_box, B)
        extra = None
        if self.cfg.foveal_size:
            o, f = self.foveal_px, self.cfg.foveal_size
            fov = self.backbone.embed(template[:, :, o:o + f, o:o + f])
            zp = zpos.expand(B, -1, -1)
            extra = fov + (zp[:, self.foveal_lo] + zp[:, self.foveal_hi]) / 2
        feats = self.backbone(template, search, template_box=template_box, keep_rate=keep_rate,
                              template_pos=zpos, extra_tokens=extra)
        return self._head(feats)
