"""Pretraining throughput (images/s) of `trackkit pretrain` for a preset, by stage.

    python benchmarks/bench_pretrain.py [--preset ostrack-cpu] [--steps 20] [--threads 1] [--quick]

Reports, at the preset's pretraining size (128 px for the CPU presets) and the default
PretrainConfig (batch 128, procedural crops):
  data       crops/s of the procedural source in one process (scene planning, rendering, crops)
  step       images/s of forward + backward + AdamW on a fixed batch, ``--threads`` torch threads
  pipeline   images/s of the real loop (loader worker(s) + training), what a run achieves
The machine is shared: each stage reports the best of its repeats; quote the load average
printed at the end with the numbers. ``--quick`` shrinks everything to a few seconds.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from trackkit.families import get_preset
from trackkit.pretrain import PretrainConfig, build_mae, make_source, pretrain
from trackkit.pretrain.data import normalize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="ostrack-cpu")
    ap.add_argument("--steps", type=int, default=20, help="timed training steps per measurement")
    ap.add_argument("--items", type=int, default=16, help="procedural items (scenes) for the data stage")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the step stage")
    ap.add_argument("--repeat", type=int, default=2, help="best of this many runs per stage")
    ap.add_argument("--quick", action="store_true", help="a few seconds: 4 steps, 2 items, batch 32")
    args = ap.parse_args()
    preset = get_preset(args.preset)
    cfg = PretrainConfig()
    if args.quick:
        args.steps, args.items, args.repeat = 4, 2, 1
        cfg = PretrainConfig(batch_size=32, samples_per_epoch=128)
    torch.set_num_threads(args.threads)

    dataset, per_item, _ = make_source(preset, cfg, seed=0)
    best = float("inf")
    for r in range(args.repeat):
        t = time.perf_counter()
        for i in range(args.items):
            dataset[(r, i)]
        best = min(best, time.perf_counter() - t)
    print(f"data      {args.items * per_item / best:8.1f} crops/s (one process, {per_item} crops per scene)")

    model = build_mae(preset, cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr(), betas=cfg.betas)
    batch = torch.cat([dataset[(0, i)] for i in range(cfg.batch_size // per_item)])
    imgs = normalize(batch, preset.track.mean, preset.track.std)
    gen = torch.Generator().manual_seed(0)
    best = float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        for _ in range(args.steps):
            loss, _, _ = model(imgs, generator=gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
        best = min(best, time.perf_counter() - t)
    print(f"step      {args.steps * cfg.batch_size / best:8.1f} images/s ({args.threads} thread(s), "
          f"batch {cfg.batch_size})")

    steps = max(2, args.steps // 2)
    run_cfg = PretrainConfig(**{**cfg.to_dict(), "epochs": 1, "warmup_epochs": 0.0,
                                "samples_per_epoch": steps * cfg.batch_size})
    torch.set_num_threads(max(1, (os.cpu_count() or 1) - run_cfg.num_workers))
    with tempfile.TemporaryDirectory() as out:
        log = pretrain(build_mae(preset, run_cfg), dataset, cfg=run_cfg, crops_per_item=per_item,
                       mean=preset.track.mean, std=preset.track.std, out_dir=out, progress=False)
    print(f"pipeline  {log[0]['images_per_s']:8.1f} images/s ({run_cfg.num_workers} loader worker(s), "
          f"{torch.get_num_threads()} torch thread(s), {steps} steps)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
