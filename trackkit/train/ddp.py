"""Multi-process training with ``torchrun`` + DistributedDataParallel.

``torchrun --standalone --nproc_per_node=N -m trackkit train ...`` sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`init_from_env` joins the process group (NCCL on
CUDA, gloo on CPU). Each rank samples its own shard of the pair stream
(:class:`~trackkit.train.sampler.ShardedBatchSampler`), DDP averages the gradients, and only
rank 0 writes files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def current() -> DistInfo:
    """The process group this process is in (rank 0 of 1 when there is none)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return DistInfo()


def init_from_env(device: str) -> DistInfo:
    """Join the group torchrun describes in the environment; no-op for a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or (dist.is_available() and dist.is_initialized()):
        return current()
    backend = "nccl" if str(device).startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return current()


def device_for(device: str, info: DistInfo) -> torch.device:
    """``cuda`` means this rank's GPU (``cuda:LOCAL_RANK``) under DDP."""
    if str(device) == "cuda" and info.enabled:
        return torch.device("cuda", info.local_rank)
    return torch.device(device)


def wrap(model: torch.nn.Module, device: torch.device, info: DistInfo) -> torch.nn.Module:
    """DDP wrapper when there are several processes.

    ``find_unused_parameters=True`` because tracker backbones keep parameters that a given
    configuration does not use (the pretrained ``pos_embed``/``cls_token`` after resampling,
    eliminated tokens' paths), which DDP otherwise rejects.
    """
    if not info.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def gather_objects(obj, info: DistInfo) -> list:
    """Every rank's ``obj``, indexed by rank (``[obj]`` for one process)."""
    if not info.enabled:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def mean_over_ranks(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Average logged numbers over the ranks (for the log only)."""
    if not info.enabled or not values:
        return values
    keys = sorted(values)
    dev = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=dev)
    dist.all_reduce(t)
    return {k: float(v) / info.world_size for k, v in zip(keys, t.tolist())}
