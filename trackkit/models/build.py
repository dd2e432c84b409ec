"""TEMPORARY shim while the family refactor lands: see :func:`trackkit.families.build_model`."""
from trackkit.families.recipes import build_model  # noqa: F401
