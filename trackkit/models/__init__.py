"""One-stream tracker networks: OSTrack (+ candidate elimination) and SimTrack.

    from trackkit.models import get_preset, build_model
    p = get_preset("ostrack-cpu").override(["model.ce_keep_ratio=0.6"])
    model = build_model(p)
    out = model(template, search, template_box=None, keep_rate=None)
    boxes = model.decode(out, window=None)
"""
from trackkit.models.build import build_model
from trackkit.models.config import ModelConfig
from trackkit.models.onestream import OneStreamViT, set_trainable
from trackkit.models.ostrack import OSTrack
from trackkit.models.presets import Preset, get_preset, list_presets, register
from trackkit.models.simtrack import SimTrack
from trackkit.models.weights import load_model, load_pretrained, save_model

__all__ = [
    "ModelConfig", "OSTrack", "OneStreamViT", "Preset", "SimTrack", "build_model", "get_preset",
    "list_presets", "load_model", "load_pretrained", "register", "save_model", "set_trainable",
]
