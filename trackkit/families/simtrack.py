"""SimTrack (Chen et al., ECCV 2022): one-branch ViT, foveal window, distinguishable position
embedding, corner head.

Deltas on the shared parts:
- network: :class:`trackkit.models.simtrack.SimTrack` (the one-stream ViT with a class token,
  foveal-window tokens and the distinguishable template position embedding; STARK's corner head);
- training task: pairs with GIoU + L1 (:class:`~trackkit.train.task.OneStreamPairTask`; the
  presets set the focal weight to 0), no candidate elimination;
- tracking: :class:`~trackkit.track.onestream.OneStreamTracking` with the official tracker's
  template box for the distinguishable embedding
  (:func:`trackkit.models.simtrack.simtrack_template_box`: the target assumed centred on the
  crop, corner truncated) and no Hanning window (the presets switch it off).

Presets: simtrack-b16 (Sim-B/16: CLIP ViT-B/16, 112/224 px, foveal 64 px) and simtrack-cpu.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from trackkit.crop import TrackConfig
from trackkit.families.ostrack import CPU_MODEL, CPU_TRACK, CPU_TRAIN
from trackkit.families.registry import Family, Preset, register_family, register_preset
from trackkit.models.config import ModelConfig
from trackkit.models.simtrack import SimTrack, simtrack_template_box
from trackkit.track.onestream import OneStreamTracking
from trackkit.track.tracker import ModelTracker
from trackkit.train.config import TrainConfig
from trackkit.train.task import OneStreamPairTask


class SimTrackTracking(OneStreamTracking):
    """One-stream tracking whose template box follows the official SimTrack tracker."""

    def template_box(self, tracker: ModelTracker, boxes: np.ndarray, resize_factor: np.ndarray) -> torch.Tensor:
        tbox = simtrack_template_box(boxes, resize_factor, tracker.cfg.template_size)
        return tbox.to(device=tracker.device, dtype=tracker.dtype)


FAMILY = register_family(Family(
    name="simtrack", config=ModelConfig, build=SimTrack.from_config,
    task=lambda preset: OneStreamPairTask(preset.train, preset.track),
    tracking=lambda preset: SimTrackTracking(),
    description="one-branch ViT + foveal window + distinguishable position embedding + corner head "
                "(SimTrack, ECCV 2022)"))

register_preset(Preset(
    "simtrack-b16",
    "SimTrack Sim-B/16: ViT-B/16, 112/224 px, foveal 64 px, dist. pos embed, corner head",
    "simtrack",
    # OpenAI CLIP ViT-B/16 as the official backbone (LPXTT/SimTrack clipvit16.py): ln_pre over
    # all tokens, LayerNorm eps 1e-5, QuickGELU, no patch-projection bias.
    ModelConfig(arch="simtrack", cls_token=True, template_size=112, search_size=224, ce_loc=(),
                head="corner", bottleneck_dim=256, foveal_size=64, dist_pos_embed=True,
                drop_path_rate=0.0, pre_norm=True, norm_eps=1e-5, mlp_activation="quick_gelu",
                patch_bias=False,
                pretrained_source="CLIP ViT-B/16 in timm layout (vit_base_patch16_clip_quickgelu_"
                                  "224.openai); official SimTrack checkpoints: trackkit convert "
                                  "simtrack"),
    TrackConfig(template_size=112, search_size=224, hanning=False),
    TrainConfig(epochs=500, lr=1e-4, backbone_lr_mult=0.1, lr_drop_epoch=400,
                focal_weight=0.0, giou_weight=2.0, l1_weight=5.0)))
register_preset(Preset(
    "simtrack-cpu", "CPU-sized SimTrack: dim 128, depth 4, 64/128 px, foveal 48 px, corner head", "simtrack",
    replace(CPU_MODEL, arch="simtrack", cls_token=True, ce_loc=(), head="corner", bottleneck_dim=64,
            foveal_size=48, dist_pos_embed=True),
    replace(CPU_TRACK, hanning=False),
    replace(CPU_TRAIN, focal_weight=0.0)))
