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


def example_inputs(preset, batch: int = 1, seed: int = 0):
    """Random template, search and a centred template box (the target at factor 2), sized by
    ``preset.model``'s template and search sizes."""
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


def _synchronize(inputs) -> None:
    """Wait for queued CUDA work, so a pass is timed to its end (no-op on CPU)."""
    devices = {t.device for t in inputs if isinstance(t, torch.Tensor) and t.device.type == "cuda"}
    for d in devices:
        torch.cuda.synchronize(d)


def _latency_stats(times: list[float]) -> dict:
    q = statistics.quantiles(times, n=10) if len(times) > 1 else times * 9
    return {"median": statistics.median(times), "p10": q[0], "p90": q[-1], "runs": len(times)}


def compare_latency(models: dict[str, torch.nn.Module], inputs: dict[str, tuple] | tuple, warmup: int = 10,
                    runs: int = 50) -> dict[str, dict]:
    """Model-only wall time (ms) of several networks, timed interleaved in inference mode.

    Each round runs every model once, in the given order on even rounds and reversed on odd
    rounds (A B, B A, ...), so drift in machine load and cache warmth hits all of them alike and
    their ratio survives a busy machine better than any one number. ``warmup`` untimed rounds
    come first (interleaved the same way). ``inputs``: one tuple for all models, or a tuple per
    model name; each pass is ``model(*inputs)``, synchronised when the inputs are on CUDA.

    Returns ``{name: {'median', 'p10', 'p90', 'runs', 'warmup', 'times_ms'}}``.
    """
    if not models:
        raise ValueError("compare_latency: no models given")
    if runs < 1 or warmup < 0:
        raise ValueError(f"compare_latency: runs={runs} must be >= 1 and warmup={warmup} >= 0")
    per_model = inputs if isinstance(inputs, dict) else {k: inputs for k in models}
    missing = sorted(set(models) - set(per_model))
    if missing:
        raise ValueError(f"compare_latency: no inputs for {', '.join(missing)}")
    order = list(models.items())
    times: dict[str, list[float]] = {k: [] for k in models}
    with torch.inference_mode():
        for r in range(warmup + runs):
            for name, model in (order if r % 2 == 0 else order[::-1]):
                args = per_model[name]
                _synchronize(args)
                t = time.perf_counter()
                model(*args)
                _synchronize(args)
                if r >= warmup:
                    times[name].append((time.perf_counter() - t) * 1e3)
    return {k: {**_latency_stats(v), "warmup": warmup, "times_ms": v} for k, v in times.items()}


def measure_latency(model: torch.nn.Module, inputs: tuple, warmup: int = 10, runs: int = 50) -> dict:
    """Median / p10 / p90 wall time (ms) of model(*inputs) in inference mode (one model of
    :func:`compare_latency`)."""
    out = compare_latency({"model": model}, {"model": inputs}, warmup=warmup, runs=runs)["model"]
    return {k: out[k] for k in ("median", "p10", "p90", "runs")}


def model_costs(model: torch.nn.Module, inputs: tuple) -> dict:
    """{'params_m', 'macs_g', 'flops_g'} of one forward pass at ``inputs``: parameters in
    millions, legacy-thop MACs and FLOPs in billions (see the module docstring), counted on
    the CPU whatever device the model is on (the model is moved there)."""
    model = model.cpu()
    cpu_inputs = tuple(t.cpu() for t in inputs)
    return {"params_m": sum(p.numel() for p in model.parameters()) / 1e6,
            "macs_g": count_macs(model, cpu_inputs) / 1e9,
            "flops_g": count_flops(model, cpu_inputs) / 1e9}


def compare_costs(models: dict[str, torch.nn.Module], inputs: dict[str, tuple], device: str = "cpu",
                  warmup: int = 10, runs: int = 50) -> dict[str, dict]:
    """Networks side by side: :func:`model_costs` of each (on the CPU), then their latencies
    timed interleaved on ``device`` (:func:`compare_latency`). Returns ``{name: {'params_m',
    'macs_g', 'flops_g', 'latency_ms', 'latency_p10_ms', 'latency_p90_ms', 'fps'}}`` (latency:
    the median; fps = 1000 / median). The models are left on ``device``."""
    costs = {k: model_costs(net, inputs[k]) for k, net in models.items()}
    lat = compare_latency({k: net.to(device) for k, net in models.items()},
                          {k: tuple(t.to(device) for t in inputs[k]) for k in models}, warmup=warmup, runs=runs)
    for k, c in costs.items():
        c.update(latency_ms=lat[k]["median"], latency_p10_ms=lat[k]["p10"], latency_p90_ms=lat[k]["p90"],
                 fps=1e3 / lat[k]["median"])
    return costs


def environment(device: str = "cpu") -> dict:
    """What a latency depends on besides the network: torch threads, device, library versions."""
    import os
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def pkg(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    dev = torch.device(device)
    return {"threads": torch.get_num_threads(), "device": dev.type,
            "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or None,
            "cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "timm": pkg("timm"), "thop": pkg("thop")}
