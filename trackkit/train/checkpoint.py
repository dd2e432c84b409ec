"""Atomic checkpoints that resume bit-exactly.

A checkpoint holds the model, optimiser, scheduler and grad-scaler states, the epoch and step
counters, the training config and every RNG state that training draws from (torch CPU and
CUDA, numpy's and Python's global generators). The pair sampler needs no state of its own:
its stream is a function of ``(seed, epoch, index)`` (:mod:`trackkit.train.sampler`), so the
seed and epoch saved here restore it.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trackkit.atomic import atomic_open
from trackkit.errors import DataError


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """``torch.save`` through a temporary file + fsync + rename: never a half-written file."""
    with atomic_open(path, "wb") as fh:
        torch.save(state, fh)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (trusted: it holds RNG states and
    config objects, so it is not loaded with ``weights_only``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "checkpoint not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # truncated or foreign file
        raise DataError(path, f"cannot read checkpoint ({type(e).__name__}: {e})") from None


WEIGHTS_FORMAT = "trackkit-model-1"


def save_weights(path: str | Path, model: torch.nn.Module, preset: dict | None = None) -> None:
    """The one trackkit weights file: ``{'format': 'trackkit-model-1', 'preset': dict | None,
    'state_dict': ...}`` (tensors on the CPU; atomic). ``preset`` is the resolved preset
    (``Preset.to_dict()``) that rebuilds the network."""
    obj = {"format": WEIGHTS_FORMAT, "preset": preset,
           "state_dict": {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}}
    with atomic_open(path, "wb") as fh:
        torch.save(obj, fh)


def read_weights(path: str | Path) -> tuple[dict, dict | None]:
    """A :func:`save_weights` file -> (state dict, preset dict or None), read without
    unpickling anything but tensors and plain containers."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "weights file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DataError(path, f"not a valid trackkit weights file ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict) or obj.get("format") != WEIGHTS_FORMAT:
        raise DataError(path, f"not a trackkit weights file (no format {WEIGHTS_FORMAT!r})")
    return obj["state_dict"], obj.get("preset")


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DDP wrapper."""
    return model.module if hasattr(model, "module") else model
