"""Speed numbers that always say what they measure.

Papers mix two different things under "fps": model-only latency (a warmed-up forward pass at
batch 1, often on a faster GPU) and end-to-end tracking speed (frames / total wall time,
including cropping, pre- and post-processing). Every key here carries its label.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import numpy as np

__all__ = ["model_latency", "end_to_end_fps", "mean_per_frame_fps"]


def _sync(device) -> None:
    import torch

    if device is not None and str(device).startswith("cuda") and torch.cuda.is_available():
        torch.cuda.synchronize(device)


def model_latency(fn: Callable[[], object], warmup: int = 10, repeats: int = 50, device=None) -> dict:
    """Model-only latency of ``fn()`` (one forward pass at batch 1, inputs already on device).

    Runs ``warmup`` untimed calls, then ``repeats`` timed ones (CUDA synchronized when
    ``device`` is a CUDA device) and reports the median.
    """
    import torch

    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        _sync(device)
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            _sync(device)
            ts.append(time.perf_counter() - t0)
    med = statistics.median(ts)
    return {"model_only_latency_ms_median": med * 1e3, "model_only_fps_batch1": 1.0 / med,
            "warmup": warmup, "repeats": repeats, "device": str(device or "cpu"),
            "label": f"model-only latency, batch 1, median of {repeats} after {warmup} warm-up calls"}


def end_to_end_fps(frames: int, seconds: float) -> dict:
    """End-to-end tracking speed: frames / total wall time (includes everything)."""
    return {"end_to_end_fps": frames / seconds if seconds > 0 else float("nan"), "frames": int(frames),
            "seconds": float(seconds), "label": "end-to-end fps = frames / total wall time"}


def mean_per_frame_fps(times) -> dict:
    """The got10k toolkit's speed: mean of 1/t over frames with a valid time (biased upward
    versus frames / total time); reported beside the end-to-end number."""
    t = np.asarray(times, dtype=np.float64).ravel()
    t = t[np.isfinite(t) & (t > 0)]
    return {"mean_per_frame_fps": float(np.mean(1.0 / t)) if len(t) else float("nan"),
            "end_to_end_fps": float(len(t) / t.sum()) if len(t) else float("nan"),
            "label": "mean_per_frame_fps = mean(1/t) (got10k toolkit); end_to_end_fps = frames / sum(t)"}
