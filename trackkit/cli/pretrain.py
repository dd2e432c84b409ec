"""trackkit pretrain: masked-autoencoder pretraining of a preset's ViT (MAE / MAE-Lite).

    trackkit pretrain --preset ostrack-cpu --out runs/pretrain/ostrack-cpu
    trackkit pretrain --preset ostrack-cpu --out runs/pretrain/in1k --images /data/imagenet/train
    trackkit pretrain --preset ostrack-cpu --out runs/pretrain/ostrack-cpu --set pretrain.epochs=16 --resume

The output folder holds ``mae_pretrain.pth`` (``{"model": state_dict}``, timm / MAE names),
``pretrain.json`` (settings, seed, per-epoch log) and ``checkpoint.pth`` (for ``--resume``).
A tracker loads the encoder with ``--set model.pretrained=<out>/mae_pretrain.pth``.
``--set`` takes ``pretrain.<field>=<value>`` (trackkit.pretrain.PretrainConfig) and the
preset's own ``model.`` / ``track.`` / ``train.`` fields (the ViT dims come from the preset).
"""
from __future__ import annotations

import os
from pathlib import Path

HELP = "masked-autoencoder pretraining of a preset's ViT"


def add_arguments(p) -> None:
    p.add_argument("--preset", required=True, help="tracker preset whose ViT is pretrained (see `trackkit presets`)")
    p.add_argument("--out", default=None, help="output folder (default: runs/pretrain/<preset>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. pretrain.epochs=4 or pretrain.base_lr=1e-3 (repeatable)")
    p.add_argument("--images", default=None, metavar="FOLDER",
                   help="pretrain on every image under FOLDER (recursive; jpg, png, ...) instead of "
                        "procedural frames")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pth")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, the crops and the masks")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or epoch lines")


def split_overrides(overrides: list[str]) -> tuple[list[str], list[str]]:
    """(pretrain.* overrides, the preset's own)."""
    ours = [o for o in overrides if o.strip().startswith("pretrain.")]
    return ours, [o for o in overrides if not o.strip().startswith("pretrain.")]


def run(args) -> int:
    import torch

    from trackkit.errors import ConfigError
    from trackkit.families import get_preset
    from trackkit.pretrain import CHECKPOINT, WEIGHTS, PretrainConfig, pretrain_preset

    ours, theirs = split_overrides(args.overrides)
    preset = get_preset(args.preset, theirs)
    cfg = PretrainConfig().override(ours)
    out = Path(args.out or Path("runs") / "pretrain" / preset.name)
    if not args.resume and (out / CHECKPOINT).exists():
        raise ConfigError(f"{out / CHECKPOINT} exists: pass --resume to continue it, or choose another --out")
    if args.device == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        # loader processes render / decode on their own cores (as `trackkit train`)
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - cfg.num_workers))
    log = pretrain_preset(preset, cfg, out, seed=args.seed, images=args.images, resume=args.resume,
                          device=args.device, progress=not args.no_progress)
    wall = sum(r["wall_s"] for r in log)
    images = sum(r["images"] for r in log)
    print(f"pretrained {preset.name}: {len(log)} epochs, {images} images in {wall:.0f} s "
          f"({images / max(wall, 1e-9):.1f} images/s), final loss {log[-1]['loss']:.4f}\n"
          f"weights: {out / WEIGHTS} (load with --set model.pretrained={out / WEIGHTS})")
    return 0
