"""trackkit convert {ostrack,simtrack} CHECKPOINT OUT --preset P: official checkpoint -> trackkit model."""
from __future__ import annotations

HELP = "convert an official checkpoint into a trackkit model"

KINDS = ("ostrack", "simtrack")


def add_arguments(p) -> None:
    p.add_argument("kind", choices=KINDS, help="which official code base wrote the file "
                   "(botaoye/OSTrack, LPXTT/SimTrack)")
    p.add_argument("checkpoint", help="official checkpoint, e.g. OSTrack_ep0300.pth.tar")
    p.add_argument("out", help="trackkit model file to write")
    p.add_argument("--preset", required=True, help="trackkit preset matching the checkpoint")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="fully unpickle the file, running any code it names (trusted files only; "
                        "needed only when the weights themselves are stored in foreign classes)")
    p.add_argument("overrides", nargs="*", default=[], help="section.field=value overrides")


def run(args) -> int:
    from trackkit.families import get_preset, save_model
    from trackkit.models.convert import convert_official

    preset = get_preset(args.preset, args.overrides)
    model, skipped = convert_official(args.kind, args.checkpoint, preset, trust=args.trust_checkpoint)
    for note in skipped:
        print(f"{args.checkpoint}: {note}")
    save_model(args.out, model, preset)
    n = sum(t.numel() for t in model.parameters())
    print(f"wrote {args.out}: preset {preset.name}, {n / 1e6:.2f}M parameters")
    return 0
