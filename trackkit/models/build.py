"""build_model(preset) -> nn.Module: the one entry point from a preset to a network."""
from __future__ import annotations

from torch import nn

from trackkit.models.config import ModelConfig
from trackkit.models.ostrack import OSTrack
from trackkit.models.presets import Preset, get_preset
from trackkit.models.simtrack import SimTrack
from trackkit.models.weights import load_pretrained, read_state_dict

ARCH_CLASSES: dict[str, type[OSTrack]] = {"ostrack": OSTrack, "simtrack": SimTrack}


def build_model(preset: Preset | ModelConfig | str, load_pretrained_weights: bool = True) -> nn.Module:
    """Build the network of a preset (or a bare ModelConfig, or a preset name).

    With ``model.pretrained`` set, the backbone loads that local timm / MAE file (position
    embeddings resampled); a missing file raises DataError naming it. The trainable switch is
    applied after loading.
    """
    if isinstance(preset, str):
        preset = get_preset(preset)
    cfg = preset.model if isinstance(preset, Preset) else preset
    sd = None
    if cfg.pretrained and load_pretrained_weights:  # read first: a missing file fails fast
        sd = read_state_dict(cfg.pretrained, source=cfg.pretrained_source)
    model = ARCH_CLASSES[cfg.arch].from_config(cfg)
    if sd is not None:
        load_pretrained(model.backbone, cfg.pretrained, source=cfg.pretrained_source, state_dict=sd)
        model.set_trainable(cfg.trainable)
    return model
