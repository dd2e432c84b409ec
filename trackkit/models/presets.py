"""TEMPORARY shim while the family refactor lands: presets live in :mod:`trackkit.families`."""
from trackkit.families.registry import Preset, get_preset, list_presets  # noqa: F401
from trackkit.families.registry import register_preset as register  # noqa: F401
