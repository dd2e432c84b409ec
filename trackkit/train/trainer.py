"""The generic training loop: clips -> batched crops on the device -> model -> loss -> AdamW.

A tracker family supplies a :class:`~trackkit.train.task.Task` (clip shape, batch building,
forward, loss, per-epoch settings); everything else is here, the same for every family.

One call of :func:`train` runs (or resumes) a whole run and leaves in ``out_dir``:

- ``checkpoint.pth``: the latest end-of-epoch state (model, optimiser, scheduler, scaler,
  epoch, step, config, seed, RNG states of every rank, log), written atomically;
- ``model.pth``: final weights as a plain ``state_dict``;
- ``log.json``: one record per epoch (loss parts, lr per group, the task's per-epoch settings
  such as OSTrack's keep_rate, samples/s, wall time).

Resuming from ``checkpoint.pth`` reproduces the uninterrupted run exactly (same weights,
bit for bit, on the same machine): every random draw is either restored from the checkpoint
or a function of ``(seed, epoch, index)``.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence as _Seq
from pathlib import Path

import torch
from trackkit.atomic import write_json
from trackkit.errors import ConfigError
from trackkit.progress import progress as progress_bar
from trackkit.progress import write
from trackkit.train import ddp
from trackkit.train.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    save_weights,
    set_rng_state,
    unwrap,
)
from trackkit.train.config import TrainConfig
from trackkit.train.sampler import ClipFrames, ClipSampler, ShardedBatchSampler, collate_clips
from trackkit.train.schedule import build_optimizer, build_scheduler
from trackkit.train.task import Task

CHECKPOINT = "checkpoint.pth"
WEIGHTS = "model.pth"
LOG = "log.json"


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _amp(cfg: TrainConfig, device: torch.device) -> tuple[bool, torch.dtype]:
    """Autocast on CUDA only: bf16 where the GPU has it (no scaler needed), else fp16 + scaler."""
    if not (cfg.amp and device.type == "cuda"):
        return False, torch.float32
    return True, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def train(model: torch.nn.Module, task: Task, sequences: _Seq, *, cfg: TrainConfig,
          out_dir: str | Path, seed: int = 0, device: str = "cpu", resume: bool = False,
          stop_after_epoch: int | None = None, progress: bool = True, weights_writer=None) -> list[dict]:
    """Train ``model`` on clips from ``sequences`` with a family's ``task``; returns the per-epoch log.

    Args:
        model: the network; its parameter names put the backbone under ``backbone`` (lr
            multiplier); parameters with ``requires_grad=False`` get no optimiser state.
        task: the family's :class:`~trackkit.train.task.Task` (clip shape, batches, forward, loss).
        sequences: training sequences (fully annotated).
        cfg: optimisation, schedule, sampling and augmentation settings.
        out_dir: where checkpoint, weights and log go (rank 0 writes).
        seed: seed of the pair stream and of every torch/numpy/python generator.
        device: ``cpu``, ``cuda`` (this rank's GPU under torchrun) or ``cuda:N``.
        resume: continue from ``out_dir/checkpoint.pth``; without it an existing checkpoint
            there is an error (never overwrite a run silently).
        stop_after_epoch: end after this many completed epochs (to split a run in tests).
        progress: a bar per epoch and a summary line after it (rank 0; :mod:`trackkit.progress`:
            bars interactively, the line alone in batch runs).
        weights_writer: ``f(path, model)`` that writes the final weights (default: a plain
            ``state_dict``; the CLI writes ``trackkit.models.save_model``'s format).
    """
    info = ddp.current()
    dev = ddp.device_for(device, info)
    out_dir = Path(out_dir)
    ckpt_path = out_dir / CHECKPOINT
    model = model.to(dev)

    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg)
    use_amp, amp_dtype = _amp(cfg, dev)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    log: list[dict] = []
    start_epoch, step = 0, 0
    if resume:
        ck = load_checkpoint(ckpt_path)  # CPU: RNG states must stay CPU tensors
        if ck["train_config"] != dataclasses.asdict(cfg) or ck["seed"] != seed:
            raise ConfigError(f"{ckpt_path}: the checkpoint was written with another config or seed; "
                              "resume with the same settings or start a new --out")
        unwrap(model).load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        scaler.load_state_dict(ck["scaler"])
        start_epoch, step, log = ck["epoch"], ck["step"], ck["log"]
        set_rng_state(ck["rng"][info.rank % len(ck["rng"])])
    else:
        if ckpt_path.exists():
            raise ConfigError(f"{ckpt_path} exists: pass resume=True (--resume) or use another output folder")
        seed_everything(seed + info.rank)  # per-rank dropout / drop-path draws

    net = ddp.wrap(model, dev, info)
    net.train()
    sampler = ClipSampler(sequences, cfg, seed=seed, num_templates=task.num_templates, num_search=task.num_search,
                          reverse_prob=getattr(task, "reverse_prob", 0.0))
    batches = ShardedBatchSampler(cfg.samples_per_epoch, cfg.batch_size, info.rank, info.world_size)
    loader = torch.utils.data.DataLoader(
        ClipFrames(sampler), batch_sampler=batches, collate_fn=collate_clips,
        num_workers=cfg.num_workers, generator=torch.Generator().manual_seed(seed))
    params = [p for p in net.parameters() if p.requires_grad]
    last = cfg.epochs if stop_after_epoch is None else min(cfg.epochs, stop_after_epoch)

    for epoch in range(start_epoch, last):
        e1 = epoch + 1  # the official trainer counts epochs from 1
        batches.set_epoch(epoch)
        settings = task.begin_epoch(e1)
        sums: dict[str, float] = {}
        t0 = time.perf_counter()
        # one bar per epoch that vanishes; the epoch's summary line below stays (in batch runs,
        # e.g. papermill kernels, that line is all the epoch prints)
        bar = progress_bar(loader, total=len(batches), desc=f"epoch {e1}/{cfg.epochs}", leave=False,
                           disable=not (progress and info.is_main), dynamic_ncols=True)
        for specs, zs, xs in bar:
            batch = task.make_batch(specs, zs, xs, dev)
            with torch.autocast(dev.type, dtype=amp_dtype, enabled=use_amp):
                out = task.forward(net, batch)
            loss, parts = task.loss(out, batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            step += 1
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix(loss=f"{parts['total']:.3f}", iou=f"{parts['iou']:.2f}")
        bar.close()
        wall = time.perf_counter() - t0
        lrs = {g.get("name", str(i)): g["lr"] for i, g in enumerate(optimizer.param_groups)}
        scheduler.step()
        means = ddp.mean_over_ranks({k: v / len(batches) for k, v in sums.items()}, info)
        samples = len(batches) * cfg.batch_size * info.world_size
        log.append({"epoch": e1, "step": step, "loss": means, "lr": lrs, **settings,
                    "samples": samples, "samples_per_s": samples / wall, "wall_s": wall})
        rngs = ddp.gather_objects(rng_state(), info)
        if info.is_main:
            save_checkpoint(ckpt_path, {
                "model": unwrap(net).state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                "epoch": e1, "step": step, "seed": seed, "train_config": dataclasses.asdict(cfg),
                "world_size": info.world_size, "rng": rngs, "log": log})
            write_json(out_dir / LOG, log)
            if progress:
                parts_s = " ".join(f"{k} {v:.4f}" for k, v in means.items())
                write(f"epoch {e1}/{cfg.epochs}: {parts_s} | {samples / wall:.1f} samples/s, {wall:.1f} s")
        ddp.barrier(info)

    if info.is_main and last == cfg.epochs:
        (weights_writer or save_weights)(out_dir / WEIGHTS, unwrap(net))
        write_json(out_dir / LOG, log)
    ddp.barrier(info)
    return log
