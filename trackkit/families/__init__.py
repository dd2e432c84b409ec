"""Tracker families and their presets: the recipe layer above models, track and train.

Each module here (except ``registry`` and ``recipes``) is one family: OSTrack, SimTrack, ...
It declares its config, network, training task, tracking policy, presets and converters in
one place and registers them (:mod:`trackkit.families.registry`).

    from trackkit.families import get_preset, build_model, build_tracker, train_preset
"""
from trackkit.families.recipes import (
    build_model,
    build_task,
    build_tracker,
    load_model,
    load_weights,
    profile_preset,
    save_model,
    step_inputs,
    train_preset,
)
from trackkit.families.registry import (
    Family,
    Preset,
    get_family,
    get_preset,
    list_families,
    list_presets,
    register_family,
    register_preset,
)

__all__ = [
    "Family", "Preset", "build_model", "build_task", "build_tracker", "get_family", "get_preset", "list_families",
    "list_presets", "load_model", "load_weights", "profile_preset", "register_family", "register_preset", "save_model",
    "step_inputs", "train_preset",
]
