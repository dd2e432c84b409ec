"""trackkit convert SOURCE CHECKPOINT OUT --preset P: an official checkpoint -> a trackkit model.

SOURCE names the official code base that wrote the file; each tracker family declares the
sources it converts (``ostrack``: botaoye/OSTrack, ``simtrack``: LPXTT/SimTrack).
"""
from __future__ import annotations

from trackkit.cli.options import add_overrides

HELP = "convert an official checkpoint into a trackkit model"


def add_arguments(p) -> None:
    p.add_argument("source", help="which official code base wrote the file (e.g. ostrack, simtrack)")
    p.add_argument("checkpoint", help="official checkpoint, e.g. OSTrack_ep0300.pth.tar")
    p.add_argument("out", help="trackkit model file to write")
    p.add_argument("--preset", required=True, help="trackkit preset matching the checkpoint")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="fully unpickle the file, running any code it names (trusted files only; "
                        "needed only when the weights themselves are stored in foreign classes)")
    add_overrides(p)


def run(args) -> int:
    from trackkit.errors import ConfigError
    from trackkit.families import get_family, get_preset, save_model

    preset = get_preset(args.preset, args.overrides)
    converters = get_family(preset.family).converters
    if args.source not in converters:
        raise ConfigError(f"preset {preset.name!r} is a {preset.family} model; its family converts "
                          f"{', '.join(converters) or 'no official checkpoints'}, not {args.source}")
    model, skipped = converters[args.source](args.checkpoint, preset, trust=args.trust_checkpoint)
    for note in skipped:
        print(f"{args.checkpoint}: {note}")
    save_model(args.out, model, preset)
    n = sum(t.numel() for t in model.parameters())
    print(f"wrote {args.out}: preset {preset.name}, {n / 1e6:.2f}M parameters")
    return 0
