"""OSTrack (Ye et al., ECCV 2022): one-stream ViT with early candidate elimination, center head.

Deltas on the shared parts:
- config: :class:`OSTrackConfig` = the backbone's fields + the box head's;
- network: :class:`OSTrack` = the one-stream ViT of :mod:`trackkit.models.onestream` (its CE
  blocks) + :class:`~trackkit.models.heads.CenterHead` (or STARK's corner head, an ablation);
- training task: pairs with focal + GIoU + L1 (:class:`~trackkit.train.task.OneStreamPairTask`)
  plus CE's keep-rate schedule (:func:`trackkit.train.schedule.keep_rate`: 1 until
  ``train.ce_start_epoch``, cosine to the preset's keep ratio over ``train.ce_warm_epochs``);
  a preset without CE blocks trains with ``keep_rate=None``;
- tracking: :class:`~trackkit.track.onestream.OneStreamTracking` (template once, Hanning window);
- converter: ``trackkit convert ostrack`` (official checkpoints).

Presets, paper scale (the official experiment configs and the paper):
  ostrack-b256[-noce], ostrack-b384[-noce]  ViT-B/16 (MAE init), CE at blocks 3/6/9 (0-based), 0.7
  ostrack-tiny[-ce]                          ViT-Tiny as MAE-Lite (dim 192, 12 heads); STDTrack's baseline
CPU scale (64 px template / 128 px search, dim 128, depth 4; trains in ~10 min on 2 cores):
  ostrack-cpu, ostrack-cpu-noce
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from trackkit.crop import TrackConfig
from trackkit.families.registry import Family, Preset, register_family, register_preset
from trackkit.models.config import BackboneConfig
from trackkit.models.convert import map_official_ostrack, read_official
from trackkit.models.heads import build_box_head, search_outputs
from trackkit.models.onestream import OneStreamViT, set_trainable
from trackkit.track.onestream import OneStreamTracking
from trackkit.train.config import TrainConfig
from trackkit.train.schedule import keep_rate
from trackkit.train.task import OneStreamPairTask


@dataclass(frozen=True)
class OSTrackConfig(BackboneConfig):
    """OSTrack's network: the one-stream ViT (its fields, defaults OSTrack-B/256 with CE at
    blocks 3/6/9, keep 0.7) plus the box head.

    head: 'center' (OSTrack's CenterPredictor) or 'corner' (STARK's corner predictor).
    head_channels: first conv width (256; halves three times).
    bottleneck_dim: Linear(embed_dim, bottleneck_dim) before a corner head (0 = none).
    """

    head: str = "center"
    head_channels: int = 256
    bottleneck_dim: int = 0

    def problems(self) -> list[str]:
        p = super().problems()
        if self.head not in ("center", "corner"):
            p.append(f"head={self.head!r} is not one of ('center', 'corner')")
        if self.head == "center" and self.bottleneck_dim:
            p.append("bottleneck_dim applies to the corner head only")
        return p


class OSTrack(nn.Module):
    """``out = model(template, search, template_box=None, keep_rate=None)``: the head's outputs
    ('boxes' (B,4) normalised cx,cy,w,h; the center head also 'score_map' (B,1,F,F),
    'size_map', 'offset_map') plus 'keep_indices' / 'removed_indices' (one (B,n) tensor of
    original search-token indices per CE block) and 'search_feat' (B,D,F,F), the restored
    search features the head saw. Module names follow the official checkpoints."""

    def __init__(self, backbone: OneStreamViT, box_head: nn.Module, cfg: OSTrackConfig):
        super().__init__()
        self.backbone = backbone
        self.box_head = box_head
        self.cfg = cfg
        self.feat_size = cfg.feat_size
        self.head_type = box_head.head_type

    @classmethod
    def from_config(cls, cfg: OSTrackConfig) -> "OSTrack":
        model = cls(OneStreamViT.from_config(cfg), build_box_head(cfg.head, cfg.embed_dim, cfg.head_channels,
                                                                  cfg.feat_size, cfg.bottleneck_dim), cfg)
        model.set_trainable(cfg.trainable)
        return model

    def set_trainable(self, spec: str) -> None:
        """Backbone switch ('all' | 'none' | 'last:N' | 'norm'); the head always trains."""
        set_trainable(self.backbone, spec)

    def forward(self, template: torch.Tensor, search: torch.Tensor,
                template_box: torch.Tensor | None = None, keep_rate: float | None = None) -> dict:
        feats = self.backbone(template, search, template_box=template_box, keep_rate=keep_rate)
        return search_outputs(self.box_head, feats, self.feat_size)

    def decode(self, out: dict, window: torch.Tensor | None = None, return_score: bool = False):
        """(B,4) normalised cx,cy,w,h; see the head's decode (the corner head ignores window)."""
        return self.box_head.decode(out, window=window, return_score=return_score)


class OSTrackTask(OneStreamPairTask):
    """Pairs + CE's keep-rate schedule towards the first CE block's ratio (OSTrack schedules
    towards ``CE_KEEP_RATIO[0]``); logged per epoch as ``keep_rate``."""

    def __init__(self, preset: Preset):
        super().__init__(preset.train, preset.track)
        m, t = preset.model, preset.train
        self.keep_ratio = m.keep_ratios[0] if m.ce_loc else None
        self.ce_start, self.ce_warm = t.ce_start_epoch, t.ce_warm_epochs
        self.rate = None

    def begin_epoch(self, epoch: int) -> dict:
        self.rate = keep_rate(epoch, self.keep_ratio, self.ce_start, self.ce_warm)
        return {"keep_rate": self.rate}

    def forward_kwargs(self) -> dict:
        return {"keep_rate": self.rate}


def convert_ostrack(checkpoint, preset: Preset, trust: bool = False) -> tuple[nn.Module, list[str]]:
    """An official OSTrack checkpoint (botaoye/OSTrack ``OSTrack_ep0300.pth.tar``: a path or a
    state dict) in ``preset``'s network -> (model in eval mode, notes on what reading skipped)."""
    model = OSTrack.from_config(preset.model)
    sd, where, skipped = read_official(checkpoint, trust)
    model.load_state_dict(map_official_ostrack(sd, model, where), strict=True)
    return model.eval(), skipped


FAMILY = register_family(Family(
    name="ostrack", config=OSTrackConfig, build=OSTrack.from_config, task=OSTrackTask,
    tracking=lambda preset: OneStreamTracking(), converters={"ostrack": convert_ostrack},
    description="one-stream ViT + early candidate elimination + center head (OSTrack, ECCV 2022)"))

# -- paper scale -----------------------------------------------------------------------------
MAE_B = "MAE ViT-B/16: mae_pretrain_vit_base.pth (github.com/facebookresearch/mae)"
MAE_TINY = "MAE-Lite ViT-Tiny: mae_tiny_400e.pth.tar (github.com/wangsr126/mae-lite)"

_B256 = OSTrackConfig(pretrained_source=MAE_B)
register_preset(Preset("ostrack-b256", "OSTrack-256: ViT-B/16, 128/256 px, CE 3/6/9 at 0.7", "ostrack", _B256))
register_preset(Preset("ostrack-b256-noce", "OSTrack-256 without candidate elimination", "ostrack",
                       replace(_B256, ce_loc=())))
_B384 = replace(_B256, template_size=192, search_size=384)
_T384 = TrackConfig(template_size=192, search_size=384, search_factor=5.0)
register_preset(Preset("ostrack-b384", "OSTrack-384: ViT-B/16, 192/384 px, CE 3/6/9 at 0.7", "ostrack",
                       _B384, _T384))
register_preset(Preset("ostrack-b384-noce", "OSTrack-384 without candidate elimination", "ostrack",
                       replace(_B384, ce_loc=()), _T384))
_TINY = OSTrackConfig(embed_dim=192, depth=12, num_heads=12, ce_loc=(), pretrained_source=MAE_TINY)
register_preset(Preset("ostrack-tiny", "OSTrack with ViT-Tiny (MAE-Lite: dim 192, 12 heads), no CE "
                       "(STDTrack's baseline)", "ostrack", _TINY))
register_preset(Preset("ostrack-tiny-ce", "OSTrack with ViT-Tiny (MAE-Lite), CE 3/6/9 at 0.7", "ostrack",
                       replace(_TINY, ce_loc=(3, 6, 9))))

# -- CPU scale -------------------------------------------------------------------------------
# Sized so `trackkit train --preset ostrack-cpu` learns the procedural benchmark in ~10 minutes
# on 2 cores from random init: 64/128 px crops, 16 px patches -> 16 template + 64 search
# tokens, dim 128, depth 4, heads 4; head width 64.
CPU_MODEL = OSTrackConfig(embed_dim=128, depth=4, num_heads=4, template_size=64, search_size=128,
                          ce_loc=(1, 2), ce_keep_ratio=0.7, head_channels=64, drop_path_rate=0.0,
                          pretrained_grid=8, pretrained_source="none (random init)")
CPU_TRACK = TrackConfig(template_size=64, search_size=128)
# num_workers=1: rendering the procedural frames is about half of a step on one core; one
# loader process renders the next batch while the main process trains on this one. (The
# studies train from frames rendered once into the cache, trackkit.study.shared.cached_frames:
# with two trainings side by side the renderers would take the trainers' cores.)
CPU_TRAIN = TrainConfig(epochs=10, samples_per_epoch=3200, batch_size=32, lr=1e-3,
                        backbone_lr_mult=1.0, lr_drop_epoch=8, ce_start_epoch=2,
                        ce_warm_epochs=4, max_sample_interval=50, grayscale_prob=0.0,
                        num_workers=1)
# The center head trains its box only at the argmax of its own score map (as OSTrack), so from
# random init the size branch first learns on wrong cells, where GIoU asks for big boxes
# (predicted w, h ~2x too large -> boxes that grow every tracked frame). Two CPU-scale choices
# (measured over 100-150 steps: training IoU 0.25-0.29 vs 0.12, argmax on the target cell 14-23%
# vs 5%): centre jitter 1.5 instead of 3 (the procedural targets move < 0.5 target sizes per
# frame, well inside +-0.75), and CE from epoch 5, at 0.7 from epoch 8: CE needs template ->
# search attention that already finds the target, which OSTrack's MAE init gives from the start
# and random init does not (at 0.7 from step 0, training IoU 0.17 vs 0.22 at step 75).
# Known limit: after the 10 epochs the CE ranking is still no better than chance (the target's
# centre token survives block 2 in 31% of pairs, chance 50%), so ostrack-cpu tracks worse than
# the same weights without CE (held-out val AO 0.09 vs 0.30); ostrack-cpu-noce is the one that
# beats the repeat-initial-box baseline at this scale.
_OST_CPU_TRAIN = replace(CPU_TRAIN, center_jitter=1.5, ce_start_epoch=4, ce_warm_epochs=4)
register_preset(Preset("ostrack-cpu", "CPU-sized OSTrack: dim 128, depth 4, 64/128 px, CE at 1/2 "
                       "(64 -> 45 -> 32 search tokens)", "ostrack", CPU_MODEL, CPU_TRACK, _OST_CPU_TRAIN))
register_preset(Preset("ostrack-cpu-noce", "CPU-sized OSTrack without candidate elimination", "ostrack",
                       replace(CPU_MODEL, ce_loc=()), CPU_TRACK, _OST_CPU_TRAIN))
