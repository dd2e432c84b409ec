"""Shared network parts: the one-stream ViT backbone (+ candidate elimination), box heads,
pretrained-weight reading; the OSTrack and SimTrack networks.

Presets and model building live one layer up, in :mod:`trackkit.families`.
"""
from trackkit.models.config import ModelConfig
from trackkit.models.onestream import OneStreamViT, set_trainable
from trackkit.models.ostrack import OSTrack
from trackkit.models.simtrack import SimTrack
from trackkit.models.weights import load_pretrained, read_state_dict

__all__ = ["ModelConfig", "OSTrack", "OneStreamViT", "SimTrack", "load_pretrained", "read_state_dict",
           "set_trainable"]

_MOVED = {"build_model", "get_preset", "list_presets", "Preset", "load_model", "save_model"}


def __getattr__(name: str):  # TEMPORARY, removed when the family refactor lands
    if name in _MOVED:
        import trackkit.families as families

        return getattr(families, name)
    raise AttributeError(f"module 'trackkit.models' has no attribute {name!r}")
