"""Training cost of a preset measured in a fresh process: peak memory, time per step, optimiser state.

A process's peak resident set size only grows, and whatever ran before in it (another network's
training, tracking, imports) sets the mark; so each measurement runs in its own Python process
(``python -m trackkit.study.memory``), which builds the preset's network (its initial weights:
``model.pretrained`` / a family's own loading), renders ``warmup + steps`` training batches of
``data`` first, then runs the family's task and the trainer's optimiser (AdamW over the
parameters that require gradients, :func:`trackkit.train.schedule.build_optimizer`) for
``warmup`` untimed and ``steps`` timed steps, on the batches already in memory (the
rendering cost is the same for every network and is left out).

Returned (``measure_training``):
  trainable_params, total_params;
  optimizer_state_bytes: every tensor the optimiser holds after the steps (AdamW: two moments
    per trainable value plus one step counter per parameter tensor);
  rss_before_mb: resident set before the first step (interpreter, torch, network, batches);
  peak_rss_mb: the process's peak resident set (``getrusage`` high-water mark) at the end;
  train_rss_mb: their difference, the memory the training steps added on top;
  cuda_max_allocated_mb: ``torch.cuda.max_memory_allocated`` over the steps (CUDA only, else None);
  s_per_step: median wall time of the timed steps (forward, loss, backward, optimiser step).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict

from pathlib import Path

from trackkit.errors import TrackkitError

_MB = 2 ** 20


def measure_training(preset, data, *, steps: int = 5, warmup: int = 1, seed: int = 0, device: str = "cpu",
                     threads: int = 0, timeout: float = 900) -> dict:
    """Run ``warmup + steps`` training steps of ``preset`` (a :class:`~trackkit.families.Preset`)
    on ``data`` (a :class:`~trackkit.study.shared.SyntheticData`) in a fresh process; see the
    module docstring for what comes back. ``threads``: torch intra-op threads there (0: torch's
    default). A failure in the child raises TrackkitError with its last output lines."""
    if steps < 1 or warmup < 0:
        raise ValueError(f"steps={steps} must be >= 1 and warmup={warmup} >= 0")
    job = {"preset": preset.to_dict(), "data": asdict(data), "steps": steps, "warmup": warmup, "seed": seed,
           "device": device, "threads": threads}
    run = subprocess.run([sys.executable, "-m", "trackkit.study.memory"], input=json.dumps(job),
                         capture_output=True, text=True, timeout=timeout, env={**os.environ})
    lines = run.stdout.strip().splitlines()
    if run.returncode or not lines:
        tail = "\n".join((run.stdout + run.stderr).strip().splitlines()[-15:])
        raise TrackkitError(f"training measurement of {preset.name!r} failed (exit {run.returncode}):\n{tail}")
    return json.loads(lines[-1])


def cached_cost(cache_dir: str | Path, preset, data, *, steps: int = 5, warmup: int = 1, seed: int = 0,
                device: str = "cpu", threads: int = 0, log=print) -> dict:
    """:func:`measure_training` once per settings (the preset's training settings, the data,
    seed, steps, device, threads, code version) under ``<cache_dir>/costs/<key>/``, built under
    a file lock like :func:`trackkit.study.shared.cached_training`'s artifacts; adds ``key``."""
    from trackkit.atomic import write_json
    from trackkit.study.shared import locked, settings_key, training_settings

    key = settings_key({**training_settings(preset, data, seed), "kind": "cost", "steps": steps,
                        "warmup": warmup, "device": device, "threads": threads})
    folder = Path(cache_dir) / "costs" / key
    with locked(folder, log, "cost"):
        done = folder / "cost.json"
        if done.is_file():
            return json.loads(done.read_text())
        cost = {**measure_training(preset, data, steps=steps, warmup=warmup, seed=seed, device=device,
                                   threads=threads), "key": key}
        folder.mkdir(parents=True, exist_ok=True)
        write_json(done, cost)
        return cost


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return kb * 1024 if sys.platform != "darwin" else kb


def _child(job: dict) -> dict:
    import statistics
    import time

    import torch

    from trackkit.families import Preset, build_model, build_task
    from trackkit.study.shared import SyntheticData
    from trackkit.train.sampler import ClipFrames, ClipSampler, collate_clips
    from trackkit.train.schedule import build_optimizer
    from trackkit.train.trainer import seed_everything

    if job["threads"]:
        torch.set_num_threads(job["threads"])
    preset = Preset.from_dict(job["preset"])
    dev = torch.device(job["device"])
    seed_everything(job["seed"])
    model = build_model(preset).to(dev).train()
    task = build_task(preset)
    cfg = preset.train
    sampler = ClipSampler(SyntheticData(**job["data"]).load(job["seed"]), cfg, seed=job["seed"],
                          num_templates=task.num_templates, num_search=task.num_search,
                          reverse_prob=getattr(task, "reverse_prob", 0.0))
    frames = ClipFrames(sampler)
    n = job["warmup"] + job["steps"]
    batches = [task.make_batch(*collate_clips([frames[(0, s * cfg.batch_size + i)] for i in range(cfg.batch_size)]),
                               device=dev) for s in range(n)]
    optimizer = build_optimizer(model, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    rss_before = _rss_bytes()
    times = []
    for s, batch in enumerate(batches):
        t0 = time.perf_counter()
        loss, _ = task.loss(task.forward(model, batch), batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        if s >= job["warmup"]:
            times.append(time.perf_counter() - t0)
    peak = _peak_rss_bytes()
    state_bytes = sum(v.numel() * v.element_size() for st in optimizer.state.values()
                      for v in st.values() if isinstance(v, torch.Tensor))
    return {
        "trainable_params": sum(p.numel() for p in params),
        "total_params": sum(p.numel() for p in model.parameters()),
        "optimizer_state_bytes": state_bytes,
        "rss_before_mb": rss_before / _MB, "peak_rss_mb": peak / _MB, "train_rss_mb": (peak - rss_before) / _MB,
        "cuda_max_allocated_mb": torch.cuda.max_memory_allocated(dev) / _MB if dev.type == "cuda" else None,
        "s_per_step": statistics.median(times), "steps": len(times), "batch_size": cfg.batch_size,
        "threads": torch.get_num_threads(), "device": dev.type,
    }


if __name__ == "__main__":
    print(json.dumps(_child(json.loads(sys.stdin.read()))))
