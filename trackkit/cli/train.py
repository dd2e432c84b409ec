"""trackkit train: train a preset on the procedural benchmark (in memory) or a dataset folder.

    trackkit train --preset ostrack-cpu --out runs/ostrack-cpu
    trackkit train --preset ostrack-cpu --set train.epochs=3 --set train.lr=5e-4 --resume
    torchrun --standalone --nproc_per_node=2 -m trackkit train --preset ostrack-b256 --device cuda

The output folder holds ``preset.json`` (the resolved preset), ``checkpoint.pth`` (latest,
for ``--resume``), ``log.json`` (per epoch) and ``model.pth`` (final weights in the
``trackkit.families.save_model`` format, loadable by ``trackkit track --weights``).
"""
from __future__ import annotations

import os
from pathlib import Path

from trackkit.cli.options import add_overrides

HELP = "train a preset"


def add_arguments(p) -> None:
    p.add_argument("--preset", required=True, help="model preset name (see `trackkit presets`)")
    add_overrides(p)
    p.add_argument("--out", default=None, help="output folder (default: runs/train/<preset>)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pth")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, the pair stream and the data")
    p.add_argument("--data", default=None,
                   help="training dataset folder (any layout trackkit.data.readers reads); "
                        "default: the procedural benchmark generated in memory")
    p.add_argument("--synth-preset", default="default", help="procedural benchmark difficulty preset")
    p.add_argument("--synth-sequences", type=int, default=300, help="procedural training sequences")
    p.add_argument("--synth-frames", type=int, default=100, help="frames per procedural sequence")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")


def training_sequences(args):
    """The training sequences: a dataset folder, or the procedural 'train' split in memory."""
    if args.data:
        from trackkit.data.readers import load_dataset

        return load_dataset(args.data)
    from trackkit.data.synth import SynthDataset, get_synth_preset

    return SynthDataset(get_synth_preset(args.synth_preset), args.synth_sequences, args.synth_frames,
                        seed=args.seed, split="train")


def run(args) -> int:
    import torch

    from trackkit.atomic import write_json
    from trackkit.families import get_preset, train_preset
    from trackkit.train import ddp

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    preset = get_preset(args.preset, args.overrides)
    if device == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        # loader processes render frames on their own cores; torch threads that compete with
        # them for the same cores spin in OpenMP barriers (measured here: 3.1 s vs 1.0 s a step
        # with 2 threads + 1 loader vs 1 thread + 1 loader on 2 cores)
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - preset.train.num_workers))
    out = Path(args.out or Path("runs") / "train" / preset.name)
    from trackkit.errors import ConfigError
    from trackkit.train.trainer import CHECKPOINT

    if not args.resume and (out / CHECKPOINT).exists():
        raise ConfigError(f"{out / CHECKPOINT} exists: pass --resume to continue it, or choose another --out")
    info = ddp.init_from_env(device)
    try:
        torch.manual_seed(args.seed)  # the same initial weights on every rank and every run
        if info.is_main:
            write_json(out / "preset.json", {**preset.to_dict(), "seed": args.seed,
                                             "data": args.data or {"synth_preset": args.synth_preset,
                                                                   "sequences": args.synth_sequences,
                                                                   "frames": args.synth_frames}})
        log = train_preset(preset, training_sequences(args), out, seed=args.seed, device=device,
                           resume=args.resume, progress=not args.no_progress)
    finally:
        if info.enabled:
            torch.distributed.destroy_process_group()
    if info.is_main:
        wall = sum(r["wall_s"] for r in log)
        last = log[-1]["loss"] if log else {}
        print(f"trained {preset.name}: {len(log)} epochs, {wall:.0f} s in epochs, final loss "
              + " ".join(f"{k} {v:.4f}" for k, v in last.items()) + f"\nweights: {out / 'model.pth'}")
    return 0
