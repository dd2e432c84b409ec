"""From a preset to a network, a task, a tracker, a trained or saved model.

The recipe layer above models / track / train: it reads the family registry
(:mod:`trackkit.families.registry`) and puts the shared parts together.

    preset = get_preset("ostrack-cpu", ["train.epochs=3"])
    model = build_model(preset)                       # random init (+ local pretrained backbone)
    log = train_preset(preset, sequences, "runs/x")   # writes runs/x/model.pth
    tracker = build_tracker(preset, weights="runs/x/model.pth")
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from trackkit.errors import DataError
from trackkit.families.registry import Preset, get_family, get_preset
from trackkit.models.weights import load_pretrained, load_tracker_backbone, read_state_dict
from trackkit.profiling import count_flops, count_macs, example_inputs, measure_latency
from trackkit.track.tracker import ModelTracker
from trackkit.train.checkpoint import read_weights, save_weights


def build_model(preset: Preset | str, load_pretrained_weights: bool = True) -> nn.Module:
    """The network of a preset (or a preset name), random init.

    With ``model.pretrained`` set, the backbone loads that local timm / MAE / trackkit-pretrain
    file (position embeddings resampled); with ``model.init_tracker``, the backbone of a trained
    one-stream tracker's weights file, exactly. A missing file raises DataError naming it. The
    trainable switch is applied after loading.
    """
    preset = get_preset(preset)
    cfg = preset.model
    sd = None
    if cfg.pretrained and load_pretrained_weights:  # read first: a missing file fails fast
        sd = read_state_dict(cfg.pretrained, source=cfg.pretrained_source)
    model = get_family(preset.family).build(cfg)
    loaded = False
    if sd is not None:
        load_pretrained(model.backbone, cfg.pretrained, source=cfg.pretrained_source, state_dict=sd)
        loaded = True
    if cfg.init_tracker and load_pretrained_weights:
        load_tracker_backbone(model.backbone, cfg.init_tracker)
        loaded = True
    if loaded:  # loading replaced the backbone's parameters: apply the trainable switch again
        model.set_trainable(cfg.trainable)
    return model


def build_task(preset: Preset | str):
    """The family's training task for ``preset``."""
    preset = get_preset(preset)
    return get_family(preset.family).task(preset)


def save_model(path: str | Path, model: nn.Module, preset: Preset) -> None:
    """The one trackkit weights file: format, the resolved preset, the state dict (atomic)."""
    save_weights(path, model, preset.to_dict())


def load_model(path: str | Path) -> tuple[nn.Module, Preset]:
    """Inverse of :func:`save_model` (also what ``trackkit train`` writes) -> (model in eval mode, preset)."""
    state, preset_dict = read_weights(path)
    if preset_dict is None:
        raise DataError(path, "the weights file names no preset; load it with build_tracker(preset, weights=...)")
    preset = Preset.from_dict(preset_dict)
    model = build_model(preset, load_pretrained_weights=False)
    _load_exactly(model, state, path, preset)
    return model.eval(), preset


def load_weights(model: nn.Module, path: str | Path, preset: Preset) -> nn.Module:
    """Load a weights file (trackkit's, or any state dict :func:`read_state_dict` reads: official
    ``net`` / ``model`` / ``state_dict`` wrappers, ``module.`` prefixes) that must fit exactly."""
    _load_exactly(model, read_state_dict(path), path, preset)
    return model


def _load_exactly(model: nn.Module, state: dict, path, preset: Preset) -> None:
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        more = lambda keys: " ..." if len(keys) > 5 else ""
        raise DataError(path, f"weights do not fit preset {preset.name!r}: missing keys {sorted(missing)[:5]}"
                              f"{more(missing)}, unexpected keys {sorted(unexpected)[:5]}{more(unexpected)}")


def build_tracker(preset: Preset | str, weights: str | Path | None = None, *, model: nn.Module | None = None,
                  device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                  overrides=(), batch_invariant: bool = True, name: str | None = None) -> ModelTracker:
    """A tracker for ``preset``: its family's policy around the network.

    ``weights``: a trackkit weights file or any state dict file that fits the preset's network
    exactly; or pass a built ``model``. With neither, the network keeps its initialisation
    (useful only for speed measurements).
    """
    preset = get_preset(preset, list(overrides))
    if model is None:
        model = build_model(preset, load_pretrained_weights=weights is None)
        if weights is not None:
            load_weights(model, weights, preset)
    policy = get_family(preset.family).tracking(preset)
    return ModelTracker(model, policy, preset.track, device=device, dtype=dtype, name=name or preset.name,
                        batch_invariant=batch_invariant)


def train_preset(preset: Preset | str, sequences, out_dir: str | Path, *, model: nn.Module | None = None,
                 seed: int = 0, device: str = "cpu", resume: bool = False, stop_after_epoch: int | None = None,
                 progress: bool = True) -> list[dict]:
    """Train ``preset`` (its family's task, its train settings) on ``sequences``; writes
    ``out_dir/model.pth`` in :func:`save_model`'s format. Initial weights: ``model`` or
    :func:`build_model` under the current torch seed."""
    from trackkit.train.trainer import train

    preset = get_preset(preset)
    model = build_model(preset) if model is None else model
    return train(model, build_task(preset), sequences, cfg=preset.train, out_dir=out_dir, seed=seed,
                 device=device, resume=resume, stop_after_epoch=stop_after_epoch, progress=progress,
                 weights_writer=lambda path, net: save_model(path, net, preset))


def step_inputs(preset: Preset | str) -> tuple:
    """Random positional inputs of one tracking step of ``preset``'s network: the family's
    ``example_inputs`` when it has one, else (template, search, template box)."""
    preset = get_preset(preset)
    own = get_family(preset.family).example_inputs
    return own(preset) if own is not None else example_inputs(preset)


def profile_preset(preset_or_name, overrides: list[str] | tuple[str, ...] = (),
                   macs: bool = True, flops: bool = True, latency: bool = True,
                   warmup: int = 10, runs: int = 50, model: torch.nn.Module | None = None,
                   threads: int | None = None) -> dict:
    """-> {'preset', 'params', 'macs', 'flops', 'latency_ms', 'latency_label', 'batch',
    'threads', ...}; a figure not asked for is None. Weights are random unless ``model`` is
    given (the counts do not depend on them). ``threads`` sets torch's intra-op threads for
    the timing (restored afterwards). ``preset_or_name``: a preset, or a name in the registry.
    A family with a ``profile`` hook adds its own breakdown under ``'parts'`` (e.g. encoder /
    decoder as FastSeqTrack's Table 1)."""
    preset = get_preset(preset_or_name, overrides)
    if model is None:
        model = build_model(preset, load_pretrained_weights=False)
    model = model.eval()
    inputs = step_inputs(preset)
    out = {"preset": preset.name, "overrides": list(preset.overrides), "batch": 1,
           "params": int(sum(p.numel() for p in model.parameters())),
           "macs": count_macs(model, inputs) if macs else None,
           "flops": count_flops(model, inputs) if flops else None,
           "latency_ms": None, "latency_label": "model-only", "threads": torch.get_num_threads()}
    if latency:
        before = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            out["threads"] = torch.get_num_threads()
            lat = measure_latency(model, inputs, warmup=warmup, runs=runs)
        finally:
            torch.set_num_threads(before)
        out["latency_ms"] = lat["median"]
        out["latency_p10_ms"], out["latency_p90_ms"] = lat["p10"], lat["p90"]
        out["latency_runs"], out["latency_warmup"] = lat["runs"], warmup
    hook = get_family(preset.family).profile
    if hook is not None:
        out["parts"] = hook(preset, model)
    return out
