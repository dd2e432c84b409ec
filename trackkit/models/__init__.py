"""Shared network parts: the one-stream ViT backbone (+ candidate elimination, extra tokens,
per-block outputs and injection), box heads, the backbone config every family extends,
pretrained-weight reading and official-layout mappings.

The tracker families' networks, configs and presets live one layer up, in
:mod:`trackkit.families`.
"""
from trackkit.models.config import BackboneConfig
from trackkit.models.heads import CenterHead, CornerHead, build_box_head, search_outputs
from trackkit.models.onestream import OneStreamViT, set_trainable
from trackkit.models.weights import load_pretrained, read_state_dict

__all__ = ["BackboneConfig", "CenterHead", "CornerHead", "OneStreamViT", "build_box_head", "load_pretrained",
           "read_state_dict", "search_outputs", "set_trainable"]
