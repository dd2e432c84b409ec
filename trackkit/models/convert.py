"""Official OSTrack checkpoints -> trackkit models.

The official ``OSTrack_ep0300.pth.tar`` keeps its weights under 'net' (layout in
shared/reference/trackers.md). trackkit's backbone and center head use the same module
names, so the mapping only drops what the tracker never uses after fine-tuning
(``backbone.cls_token`` and the pretrained-grid ``backbone.pos_embed``, already resampled
into ``pos_embed_z`` / ``pos_embed_x``). Anything else that does not fit is listed in a
DataError: keys missing from the file, keys the model lacks, shape mismatches.
"""
from __future__ import annotations

from pathlib import Path

import torch

from trackkit.errors import ConfigError, DataError
from trackkit.models.build import build_model
from trackkit.models.presets import Preset, get_preset
from trackkit.models.weights import read_state_dict

UNUSED_OFFICIAL_KEYS = ("backbone.cls_token", "backbone.pos_embed")


def map_official_ostrack(sd: dict[str, torch.Tensor], model: torch.nn.Module,
                         where: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Official OSTrack state dict -> a state dict that loads strictly into ``model``."""
    own = model.state_dict()
    mapped = {k: v for k, v in sd.items() if k not in UNUSED_OFFICIAL_KEYS}
    for k, v in own.items():  # checkpoints saved by older torch lack BN step counters
        if k.endswith("num_batches_tracked") and k not in mapped:
            mapped[k] = v
    missing = sorted(set(own) - set(mapped))
    unexpected = sorted(set(mapped) - set(own))
    shapes = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
              for k, v in mapped.items() if k in own and v.shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing from the checkpoint: {missing}")
        if unexpected:
            parts.append(f"not in the model: {unexpected}")
        if shapes:
            parts.append(f"shape mismatches: {shapes}")
        raise DataError(where, "checkpoint does not fit the preset (wrong --preset?): "
                               + "; ".join(parts))
    return mapped


def convert_ostrack(checkpoint: str | Path | dict, preset: Preset | str,
                    trust: bool = False) -> torch.nn.Module:
    """Build ``preset``'s model and load an official OSTrack checkpoint (path or state dict)
    into it; returns the model in eval mode."""
    preset = get_preset(preset) if isinstance(preset, str) else preset
    if preset.model.arch != "ostrack":
        raise ConfigError(f"preset {preset.name!r} is a {preset.model.arch} model, not OSTrack")
    if isinstance(checkpoint, dict):
        sd, where = checkpoint, None
        if isinstance(sd.get("net"), dict):
            sd = sd["net"]
    else:
        sd, where = read_state_dict(checkpoint, trust=trust), checkpoint
    model = build_model(preset, load_pretrained_weights=False)
    model.load_state_dict(map_official_ostrack(sd, model, where), strict=True)
    return model.eval()
