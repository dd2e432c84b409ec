"""The pretraining loop: crops -> masks -> MAE loss -> AdamW, with exact resume.

One call of :func:`pretrain` runs (or resumes) a whole run and leaves in ``out_dir``:

- ``checkpoint.pth``: the end-of-epoch state (model, optimiser, epoch, step, config, seed,
  log), written atomically; ``resume=True`` continues from it;
- ``pretrain.json``: settings, seed and one record per epoch (loss, lr, images/s, wall time);
- ``mae_pretrain.pth``: the final weights as MAE writes them, ``{"model": state_dict}`` with
  timm names (encoder) and ``decoder_*`` / ``mask_token`` (decoder, ignored by trackers).

Resume is exact: the crops are a function of ``(seed, epoch, item)``, each epoch's masks come
from a generator seeded by ``(seed, epoch)``, and the learning rate is a function of the step,
so an interrupted and resumed run ends with the same tensors as an uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from trackkit.atomic import atomic_open, write_json
from trackkit.errors import ConfigError, DataError
from trackkit.pretrain.config import PretrainConfig
from trackkit.pretrain.data import EpochBatches, collate, normalize
from trackkit.pretrain.mae import MaskedAutoencoder

CHECKPOINT = "checkpoint.pth"
WEIGHTS = "mae_pretrain.pth"
LOG = "pretrain.json"


def lr_at(cfg: PretrainConfig, epoch: float) -> float:
    """MAE's ``adjust_learning_rate`` at a fractional epoch: linear warm-up from 0, then a
    half-cycle cosine from the peak to ``min_lr``."""
    peak = cfg.lr()
    if epoch < cfg.warmup_epochs:
        return peak * epoch / cfg.warmup_epochs
    span = cfg.epochs - cfg.warmup_epochs
    t = (epoch - cfg.warmup_epochs) / span if span > 0 else 1.0
    return cfg.min_lr + (peak - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """timm's ``add_weight_decay`` as MAE and MAE-Lite call it: biases and 1-D parameters
    (norm weights) without weight decay; frozen ones (sin-cos tables) left out."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def mask_generator(seed: int, epoch: int) -> torch.Generator:
    """The CPU generator of one epoch's mask noise (drawn on the CPU, so devices agree)."""
    state = np.random.SeedSequence([seed, epoch, 0x6D61736B]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))


def save_weights(path: str | Path, model: MaskedAutoencoder) -> None:
    with atomic_open(path, "wb") as fh:
        torch.save({"model": {k: v.detach().cpu() for k, v in model.state_dict().items()}}, fh)


def load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise DataError(path, "checkpoint not found (nothing to resume)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated or foreign file
        raise DataError(path, f"cannot read checkpoint ({type(e).__name__}: {e})") from None


def pretrain(model: MaskedAutoencoder, dataset: torch.utils.data.Dataset, *, cfg: PretrainConfig,
             crops_per_item: int, mean, std, out_dir: str | Path, seed: int = 0, device: str = "cpu",
             resume: bool = False, stop_after_epoch: int | None = None, progress: bool = True,
             settings: dict | None = None) -> list[dict]:
    """Pretrain ``model`` on ``dataset`` (items (epoch, i) -> uint8 (crops_per_item, S, S, 3));
    returns the per-epoch log.

    Args:
        cfg: schedule, optimiser and batch settings.
        crops_per_item: crops each dataset item returns (batch_size must be a multiple).
        mean, std: input normalisation (the tracker's), applied to crops in [0, 1].
        out_dir: where checkpoint, log and weights go.
        resume: continue from ``out_dir/checkpoint.pth`` (same config and seed required);
            without it an existing checkpoint there is an error.
        stop_after_epoch: end after this many completed epochs (tests split a run with it).
        progress: a tqdm bar per epoch when stderr is a terminal, one line per epoch always.
        settings: extra JSON-able facts for ``pretrain.json`` (preset, data source).
    """
    if cfg.batch_size % crops_per_item or cfg.samples_per_epoch % crops_per_item:
        raise ConfigError(f"batch_size={cfg.batch_size} and samples_per_epoch={cfg.samples_per_epoch} "
                          f"must be multiples of the {crops_per_item} crops each item gives")
    out_dir = Path(out_dir)
    ckpt_path = out_dir / CHECKPOINT
    dev = torch.device(device)
    model = model.to(dev)
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr(), betas=cfg.betas)
    log: list[dict] = []
    start_epoch, step = 0, 0
    if resume:
        ck = load_checkpoint(ckpt_path)
        if ck["config"] != dataclasses.asdict(cfg) or ck["seed"] != seed:
            raise ConfigError(f"{ckpt_path}: written with another config or seed; resume with the "
                              "same settings or start a new --out")
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        start_epoch, step, log = ck["epoch"], ck["step"], ck["log"]
    elif ckpt_path.exists():
        raise ConfigError(f"{ckpt_path} exists: pass resume=True (--resume) or use another output folder")

    batches = EpochBatches(cfg.samples_per_epoch // crops_per_item, cfg.batch_size // crops_per_item)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=collate,
                                         num_workers=cfg.num_workers)
    steps_per_epoch = len(batches)
    last = cfg.epochs if stop_after_epoch is None else min(cfg.epochs, stop_after_epoch)
    interactive = progress and sys.stderr.isatty()
    model.train()
    for epoch in range(start_epoch, last):
        batches.set_epoch(epoch)
        gen = mask_generator(seed, epoch)
        total, t0 = 0.0, time.perf_counter()
        bar = tqdm(loader, total=steps_per_epoch, desc=f"pretrain {epoch + 1}/{cfg.epochs}",
                   leave=False, disable=not interactive, dynamic_ncols=True)
        for i, batch in enumerate(bar):
            lr = lr_at(cfg, epoch + i / steps_per_epoch)  # per iteration, as MAE
            for group in optimizer.param_groups:
                group["lr"] = lr
            imgs = normalize(batch.to(dev), mean, std)
            noise = torch.rand(imgs.shape[0], model.grid ** 2, generator=gen).to(dev)
            loss, _, _ = model(imgs, noise=noise)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"pretraining loss is {loss.item()} at step {step}; "
                                         "lower pretrain.base_lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            total += loss.item()
            bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{lr:.2e}")
        bar.close()
        wall = time.perf_counter() - t0
        images = steps_per_epoch * cfg.batch_size
        log.append({"epoch": epoch + 1, "step": step, "loss": total / steps_per_epoch, "lr_end": lr,
                    "images": images, "images_per_s": images / wall, "wall_s": wall})
        with atomic_open(ckpt_path, "wb") as fh:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "epoch": epoch + 1, "step": step, "seed": seed,
                        "config": dataclasses.asdict(cfg), "log": log}, fh)
        write_json(out_dir / LOG, {"settings": {**(settings or {}), "pretrain": dataclasses.asdict(cfg)},
                                   "seed": seed, "log": log})
        if progress:
            tqdm.write(f"pretrain epoch {epoch + 1}/{cfg.epochs}: loss {log[-1]['loss']:.4f} | "
                       f"{images / wall:.1f} images/s, {wall:.1f} s")
    if last == cfg.epochs:
        save_weights(out_dir / WEIGHTS, model)
    return log
