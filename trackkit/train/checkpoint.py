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


def save_weights(path: str | Path, model: torch.nn.Module) -> None:
    """Final weights only: a plain ``state_dict`` (what ``model.load_state_dict`` takes)."""
    with atomic_open(path, "wb") as fh:
        torch.save(unwrap(model).state_dict(), fh)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DDP wrapper."""
    return model.module if hasattr(model, "module") else model
