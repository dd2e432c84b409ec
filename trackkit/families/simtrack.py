"""SimTrack (Chen et al., ECCV 2022): one-branch ViT, foveal window, distinguishable position
embedding, corner head.

Deltas on the shared parts:
- config: :class:`SimTrackConfig` = the backbone's fields (CLIP-style options: class token,
  ln_pre, QuickGELU, no patch bias) + the corner head's, the foveal window's and the
  distinguishable embedding's;
- network: :class:`SimTrack` = the one-stream ViT with the foveal tokens fed as
  ``extra_tokens`` and its own template position embedding as ``template_pos``, and STARK's
  :class:`~trackkit.models.heads.CornerHead`;
- training task: pairs with GIoU + L1 (:class:`~trackkit.train.task.OneStreamPairTask`; the
  presets set the focal weight to 0), no candidate elimination;
- tracking: :class:`~trackkit.track.onestream.OneStreamTracking` with the official tracker's
  template box for the distinguishable embedding (:func:`simtrack_template_box`) and no
  Hanning window (the presets switch it off);
- converter: ``trackkit convert simtrack`` (official CLIP-layout checkpoints).

Readings (the paper and the official code, LPXTT/SimTrack ``lib/models/stark/``, ``lib/test/tracker/simtrack.py``):
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

Presets: simtrack-b16 (Sim-B/16: CLIP ViT-B/16, 112/224 px, foveal 64 px) and simtrack-cpu.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from trackkit.crop import TrackConfig
from trackkit.families.ostrack import CPU_MODEL, CPU_TRACK, CPU_TRAIN
from trackkit.families.registry import Family, Preset, register_family, register_preset
from trackkit.models.config import BackboneConfig
from trackkit.models.convert import map_official_simtrack, read_official
from trackkit.models.heads import build_box_head, search_outputs
from trackkit.models.onestream import OneStreamViT, set_trainable
from trackkit.track.onestream import OneStreamTracking
from trackkit.track.tracker import ModelTracker
from trackkit.train.config import TrainConfig
from trackkit.train.task import OneStreamPairTask


@dataclass(frozen=True)
class SimTrackConfig(BackboneConfig):
    """SimTrack's network (defaults: Sim-B/16's; the backbone defaults are OSTrack-B's, so the
    presets set the CLIP options).

    head_channels: the corner head's first conv width (256; halves three times).
    bottleneck_dim: Linear(embed_dim, bottleneck_dim) before the corner head (256; 0 = none).
    foveal_size: side in px of the template crop embedded as extra tokens (0 = off).
    dist_pos_embed: template position embedding from FCs(R, cx, cy) of the target box.
    """

    cls_token: bool = True
    template_size: int = 112
    search_size: int = 224
    ce_loc: tuple[int, ...] = ()
    head_channels: int = 256
    bottleneck_dim: int = 256
    foveal_size: int = 64
    dist_pos_embed: bool = True

    @property
    def head(self) -> str:
        return "corner"  # SimTrack has no other head

    def problems(self) -> list[str]:
        p = super().problems()
        if self.foveal_size < 0 or self.foveal_size % self.patch_size:
            p.append(f"foveal_size={self.foveal_size} is not a non-negative multiple of patch_size={self.patch_size}")
        if self.foveal_size and self.foveal_size >= self.template_size:
            p.append(f"foveal_size={self.foveal_size} must be smaller than template_size={self.template_size}")
        return p


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


class SimTrack(nn.Module):
    """``out = model(template, search, template_box)``: the corner head's outputs ('boxes' (B,4)
    normalised cx,cy,w,h, 'corner_maps') plus 'search_feat' (and empty CE index lists)."""

    def __init__(self, backbone: OneStreamViT, box_head: nn.Module, cfg: "SimTrackConfig"):
        super().__init__()
        self.backbone = backbone
        self.box_head = box_head
        self.cfg = cfg
        self.feat_size = cfg.feat_size
        self.head_type = box_head.head_type
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
    def from_config(cls, cfg: "SimTrackConfig") -> "SimTrack":
        head = build_box_head("corner", cfg.embed_dim, cfg.head_channels, cfg.feat_size, cfg.bottleneck_dim)
        model = cls(OneStreamViT.from_config(cfg), head, cfg)
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
        return search_outputs(self.box_head, feats, self.feat_size)

    def decode(self, out: dict, window: torch.Tensor | None = None, return_score: bool = False):
        """The corner head's soft-argmax boxes (a window is ignored: SimTrack uses none)."""
        return self.box_head.decode(out, window=window, return_score=return_score)


class SimTrackTracking(OneStreamTracking):
    """One-stream tracking whose template box follows the official SimTrack tracker."""

    def template_box(self, tracker: ModelTracker, boxes: np.ndarray, resize_factor: np.ndarray) -> torch.Tensor:
        tbox = simtrack_template_box(boxes, resize_factor, tracker.cfg.template_size)
        return tbox.to(device=tracker.device, dtype=tracker.dtype)


def convert_simtrack(checkpoint, preset: Preset, trust: bool = False) -> tuple[nn.Module, list[str]]:
    """An official SimTrack checkpoint (CLIP-layout backbone) in ``preset``'s network ->
    (model in eval mode, notes on what reading the file skipped)."""
    model = SimTrack.from_config(preset.model)
    sd, where, skipped = read_official(checkpoint, trust)
    model.load_state_dict(map_official_simtrack(sd, model, where), strict=True)
    return model.eval(), skipped


FAMILY = register_family(Family(
    name="simtrack", config=SimTrackConfig, build=SimTrack.from_config,
    task=lambda preset: OneStreamPairTask(preset.train, preset.track),
    tracking=lambda preset: SimTrackTracking(), converters={"simtrack": convert_simtrack},
    description="one-branch ViT + foveal window + distinguishable position embedding + corner head "
                "(SimTrack, ECCV 2022)"))

register_preset(Preset(
    "simtrack-b16",
    "SimTrack Sim-B/16: ViT-B/16, 112/224 px, foveal 64 px, dist. pos embed, corner head",
    "simtrack",
    # OpenAI CLIP ViT-B/16 as the official backbone (clipvit16.py): ln_pre over all tokens,
    # LayerNorm eps 1e-5, QuickGELU, no patch-projection bias.
    SimTrackConfig(drop_path_rate=0.0, pre_norm=True, norm_eps=1e-5, mlp_activation="quick_gelu",
                   patch_bias=False,
                   pretrained_source="CLIP ViT-B/16 in timm layout (vit_base_patch16_clip_quickgelu_"
                                     "224.openai); official SimTrack checkpoints: trackkit convert simtrack"),
    TrackConfig(template_size=112, search_size=224, hanning=False),
    TrainConfig(epochs=500, lr=1e-4, backbone_lr_mult=0.1, lr_drop_epoch=400,
                focal_weight=0.0, giou_weight=2.0, l1_weight=5.0)))
# the CPU-scale backbone of trackkit.families.ostrack, with SimTrack's parts
_cpu_backbone = {f: getattr(CPU_MODEL, f) for f in BackboneConfig.__dataclass_fields__}
register_preset(Preset(
    "simtrack-cpu", "CPU-sized SimTrack: dim 128, depth 4, 64/128 px, foveal 48 px, corner head", "simtrack",
    SimTrackConfig(**{**_cpu_backbone, "cls_token": True, "ce_loc": ()}, head_channels=64, bottleneck_dim=64,
                   foveal_size=48, dist_pos_embed=True),
    replace(CPU_TRACK, hanning=False),
    replace(CPU_TRAIN, focal_weight=0.0)))
