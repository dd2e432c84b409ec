"""Parameters, MACs, FLOPs and model-only latency of a preset (batch 1).

Two counting conventions, both reported:
- ``macs``: the OSTrack-style papers' convention -- legacy thop (0.1.1.post2209072238)
  hooks on leaf Conv/Linear/BatchNorm/LayerNorm modules at batch 1; attention matmuls,
  softmax and the functional CE scoring are not counted. With it the OSTrack presets give
  the published 29.0 / 21.5 GMACs (256, without / with CE) and 65.3 / 48.3 (384).
- ``flops``: everything, from torch.utils.flop_counter.FlopCounterMode (2 FLOPs per MAC),
  run under SDPBackend.MATH because the fused CPU attention kernel counts as zero.
``params`` counts the model's parameters (the official OSTrack model also carries an unused
cls_token and 14x14 pos_embed, +0.15M for ViT-B; trackkit drops them).
``latency_ms`` is model-only: random inputs already in memory, no cropping or decoding,
median of ``runs`` forward passes at batch 1 after ``warmup`` passes, with the machine's
current torch thread count (the papers: 500 warm-up + 1000 timed, on a GPU).
"""
from __future__ import annotations

from copy import deepcopy
import statistics
import time

import torch

from trackkit.models import Preset, build_model, get_preset


def example_inputs(preset: Preset, batch: int = 1, seed: int = 0):
    """Random template, search and a centred template box (the target at factor 2)."""
    m = preset.model
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, 3, m.template_size, m.template_size, generator=g)
    x = torch.randn(batch, 3, m.search_size, m.search_size, generator=g)
    box = torch.tensor([[0.25, 0.25, 0.5, 0.5]]).repeat(batch, 1)
    return z, x, box


def count_macs(model: torch.nn.Module, inputs: tuple, copy: bool = True) -> float:
    """Legacy thop MACs of one forward pass. thop leaves counter buffers on some modules, so
    the model is deep-copied unless ``copy=False`` (a throwaway model)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # thop imports distutils.LooseVersion
        from thop import profile

    m = (deepcopy(model) if copy else model).eval()
    with torch.no_grad():
        macs, _ = profile(m, inputs=inputs, verbose=False)
    return float(macs)


def count_flops(model: torch.nn.Module, inputs: tuple) -> float:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
        model(*inputs)
    return float(counter.get_total_flops())


def measure_latency(model: torch.nn.Module, inputs: tuple, warmup: int = 10, runs: int = 50) -> dict:
    """Median / p10 / p90 wall time (ms) of model(*inputs) in inference mode."""
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(*inputs)
        for _ in range(runs):
            t = time.perf_counter()
            model(*inputs)
            times.append((time.perf_counter() - t) * 1e3)
    q = statistics.quantiles(times, n=10) if len(times) > 1 else times * 9
    return {"median": statistics.median(times), "p10": q[0], "p90": q[-1], "runs": len(times)}


def profile_preset(preset_or_name: Preset | str, overrides: list[str] | tuple[str, ...] = (),
                   macs: bool = True, flops: bool = True, latency: bool = True,
                   warmup: int = 10, runs: int = 50, model: torch.nn.Module | None = None,
                   threads: int | None = None) -> dict:
    """-> {'preset', 'params', 'macs', 'flops', 'latency_ms', 'latency_label', 'batch',
    'threads', ...}; a figure not asked for is None. Weights are random unless ``model`` is
    given (the counts do not depend on them). ``threads`` sets torch's intra-op threads for
    the timing (restored afterwards)."""
    preset = get_preset(preset_or_name, overrides)
    if model is None:
        model = build_model(preset, load_pretrained_weights=False)
    model = model.eval()
    inputs = example_inputs(preset)
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
    return out
