"""Pretrain a tracker preset's ViT end to end: data source, model, loop, output folder."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from trackkit.pretrain.config import PretrainConfig
from trackkit.pretrain.data import CropMaker, FolderCrops, SynthCrops, list_images
from trackkit.pretrain.loop import pretrain
from trackkit.pretrain.mae import MaskedAutoencoder, backbone_fields


def image_size(model_cfg) -> int:
    """Pretraining size: the preset's position grid times its patch (128 px for the CPU
    presets, 224 px for ViT-B/16), so the tracker resamples the table as it does MAE's."""
    return model_cfg.pretrained_grid * model_cfg.patch_size


def make_source(preset, cfg: PretrainConfig, seed: int = 0, images: str | Path | None = None):
    """(dataset, crops per item, description): an image folder or the procedural generator,
    cropped at the preset's pretraining size and its tracker's crop factors."""
    crops = CropMaker(cfg, image_size(preset.model), preset.track.template_factor,
                      preset.track.search_factor)
    if images is not None:
        paths = list_images(images)
        return FolderCrops(paths, crops, seed=seed), 1, {"images": str(images), "files": len(paths)}
    return SynthCrops(cfg, crops, seed=seed), cfg.synth_group, {"synth_split": "pretrain"}


def build_mae(preset, cfg: PretrainConfig, seed: int = 0) -> MaskedAutoencoder:
    torch.manual_seed(seed)  # the same initial weights for the same seed
    return MaskedAutoencoder.build(backbone_fields(preset.model), cfg)


def pretrain_preset(preset, cfg: PretrainConfig, out_dir: str | Path, *, seed: int = 0,
                    images: str | Path | None = None, resume: bool = False, device: str = "cpu",
                    progress: bool = True, stop_after_epoch: int | None = None) -> list[dict]:
    """Pretrain ``preset``'s ViT as an MAE into ``out_dir``; returns the per-epoch log."""
    dataset, per_item, source = make_source(preset, cfg, seed, images)
    model = build_mae(preset, cfg, seed)
    settings = {"preset": preset.name, "overrides": list(preset.overrides),
                "model": dataclasses.asdict(preset.model), "backbone": backbone_fields(preset.model),
                "image_size": image_size(preset.model),
                "mean": list(preset.track.mean), "std": list(preset.track.std), "data": source}
    return pretrain(model, dataset, cfg=cfg, crops_per_item=per_item, mean=preset.track.mean,
                    std=preset.track.std, out_dir=out_dir, seed=seed, device=device, resume=resume,
                    stop_after_epoch=stop_after_epoch, progress=progress, settings=settings)
