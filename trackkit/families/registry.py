"""The one registry: tracker families and their named presets.

A **family** (:class:`Family`) declares, in its own module under :mod:`trackkit.families`,
everything that differs between trackers: its model config dataclass and network, its training
task (:mod:`trackkit.train.task`), its tracking policy (:mod:`trackkit.track.tracker`) and its
checkpoint converters. A **preset** (:class:`Preset`) is a frozen, named combination of a
family, its model config, the crop settings (:class:`~trackkit.crop.TrackConfig`) and the
training settings (:class:`~trackkit.train.config.TrainConfig`).

Families register themselves when their module is imported; :func:`discover` imports every
module of this package, so adding a family is adding a module — no central list to edit.

``get_preset(name).override(["model.ce_keep_ratio=0.6", "train.epochs=3"])`` returns a new
preset with typed values; bad keys or values raise ConfigError naming the override.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from trackkit.crop import TrackConfig
from trackkit.errors import ConfigError
from trackkit.models.overrides import apply_overrides
from trackkit.train.config import TrainConfig


@dataclass(frozen=True)
class Family:
    """What a tracker family plugs into the shared parts.

    name: the family's name (presets refer to it).
    config: its model config dataclass (frozen; shares the backbone fields).
    build: ``config -> nn.Module`` (random init; pretrained backbones are loaded by
        :func:`trackkit.families.build_model`). ``trackkit profile`` counts one
        ``model(template, search, template_box)`` call unless the family gives ``example_inputs``.
    task: ``preset -> Task`` for the generic trainer.
    tracking: ``preset -> TrackingPolicy`` for the generic tracker (its ``deploy`` runs once).
    converters: ``{source: fn(checkpoint, preset) -> (model, report)}`` from official layouts.
    description: one line for ``trackkit presets``.
    profile: optional ``fn(preset, model) -> dict`` of the family's own cost breakdown (e.g.
        encoder / decoder params and FLOPs), added by ``trackkit profile``.
    example_inputs: optional ``fn(preset) -> tuple`` of the positional inputs of one tracking
        step, for families whose network takes more than (template, search, template_box)
        (e.g. a token memory); the profilers count ``model(*example_inputs(preset))``.
    """

    name: str
    config: type
    build: Callable[[Any], Any]
    task: Callable[["Preset"], Any]
    tracking: Callable[["Preset"], Any]
    converters: dict[str, Callable] = field(default_factory=dict)
    description: str = ""
    profile: Callable[["Preset", Any], dict] | None = None
    example_inputs: Callable[["Preset"], tuple] | None = None


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    family: str
    model: Any
    track: TrackConfig = field(default_factory=TrackConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    overrides: tuple[str, ...] = ()  # what was applied on top of the registered preset

    def __post_init__(self):
        m, t = self.model, self.track
        bad = [f"model.{k}={getattr(m, k)} but track.{k}={getattr(t, k)}"
               for k in ("template_size", "search_size") if getattr(m, k) != getattr(t, k)]
        if bad:
            raise ConfigError(f"preset {self.name!r}: crop sizes disagree ({'; '.join(bad)}); "
                              "override both sections together")

    def override(self, overrides: list[str] | tuple[str, ...]) -> "Preset":
        overrides = list(overrides)
        if not overrides:
            return self
        new = apply_overrides({"model": self.model, "track": self.track, "train": self.train}, overrides)
        return replace(self, model=new["model"], track=new["track"], train=new["train"],
                       overrides=self.overrides + tuple(overrides))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preset":
        """Inverse of to_dict (tuples come back from JSON as lists). Checkpoints written before
        families existed name the family in ``model.arch``."""
        def build(tp, values):
            names = {f.name for f in dataclasses.fields(tp)}
            unknown = sorted(set(values) - names)
            if unknown:
                raise ConfigError(f"preset {d.get('name')!r}: unknown {tp.__name__} fields {unknown}")
            return tp(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

        family = d.get("family") or d["model"].get("arch")
        fam = get_family(family)
        return cls(name=d["name"], description=d.get("description", ""), family=family,
                   model=build(fam.config, d["model"]), track=build(TrackConfig, d["track"]),
                   train=build(TrainConfig, d["train"]), overrides=tuple(d.get("overrides", ())))


_FAMILIES: dict[str, Family] = {}
_SHARED_MODULES = {"registry", "recipes"}  # the rest of this package's modules are families
_PRESETS: dict[str, Preset] = {}


def register_family(family: Family) -> Family:
    if family.name in _FAMILIES:
        raise ConfigError(f"family {family.name!r} registered twice")
    _FAMILIES[family.name] = family
    return family


def register_preset(preset: Preset) -> Preset:
    if preset.name in _PRESETS:
        raise ConfigError(f"preset {preset.name!r} registered twice")
    if preset.family not in _FAMILIES:
        raise ConfigError(f"preset {preset.name!r}: family {preset.family!r} is not registered")
    if not isinstance(preset.model, _FAMILIES[preset.family].config):
        raise ConfigError(f"preset {preset.name!r}: model config is not a "
                          f"{_FAMILIES[preset.family].config.__name__}")
    _PRESETS[preset.name] = preset
    return preset


def discover() -> None:
    """Import every family module of this package (each registers itself)."""
    import trackkit.families as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name not in _SHARED_MODULES and not mod.name.startswith("_"):
            importlib.import_module(f"trackkit.families.{mod.name}")


def get_family(name: str) -> Family:
    discover()
    if name not in _FAMILIES:
        raise ConfigError(f"unknown tracker family {name!r}; known families: {', '.join(_FAMILIES)}")
    return _FAMILIES[name]


def list_families() -> list[str]:
    discover()
    return list(_FAMILIES)


def list_presets() -> list[str]:
    discover()
    return list(_PRESETS)


def get_preset(name: str | Preset, overrides: list[str] | tuple[str, ...] = ()) -> Preset:
    if isinstance(name, Preset):
        return name.override(overrides)
    discover()
    if name not in _PRESETS:
        raise ConfigError(f"unknown preset {name!r}; known presets: {', '.join(_PRESETS)}")
    return _PRESETS[name].override(overrides)
