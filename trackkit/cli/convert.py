"""trackkit convert ostrack CHECKPOINT OUT --preset P: official checkpoint -> trackkit model."""
from __future__ import annotations

HELP = "convert an official checkpoint into a trackkit model"


def add_arguments(p) -> None:
    p.add_argument("kind", choices=["ostrack"], help="which official code base wrote the file")
    p.add_argument("checkpoint", help="official checkpoint, e.g. OSTrack_ep0300.pth.tar")
    p.add_argument("out", help="trackkit model file to write")
    p.add_argument("--preset", required=True, help="trackkit preset matching the checkpoint")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="unpickle Python objects stored beside the weights (trusted files only)")
    p.add_argument("overrides", nargs="*", default=[], help="section.field=value overrides")


def run(args) -> int:
    from trackkit.models import get_preset, save_model
    from trackkit.models.convert import convert_ostrack

    preset = get_preset(args.preset, args.overrides)
    model = convert_ostrack(args.checkpoint, preset, trust=args.trust_checkpoint)
    save_model(args.out, model, preset)
    n = sum(t.numel() for t in model.parameters())
    print(f"wrote {args.out}: preset {preset.name}, {n / 1e6:.2f}M parameters")
    return 0
