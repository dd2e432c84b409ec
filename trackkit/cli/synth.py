"""``trackkit synth OUT --split val --sequences N --frames F --seed S``: write the procedural
benchmark in GOT-10k layout (``OUT/<split>/list.txt``, ``OUT/<split>/SYN_Val_000001/...``).

Unlike the real GOT-10k, the test split keeps its full ground truth so it can be scored
locally. Rerunning the same command resumes an interrupted run.
"""
from __future__ import annotations

import argparse

HELP = "generate the procedural benchmark in GOT-10k layout"

# CLI flag -> SynthConfig field, for the knobs worth a flag (the rest: presets)
KNOBS = {
    "width": (int, "frame width in px"),
    "height": (int, "frame height in px"),
    "speed": (float, "mean target speed per frame, fraction of the short side"),
    "p_fast": (float, "chance a sequence is fast"),
    "p_occlusion": (float, "chance a sequence stages occlusions"),
    "p_full_occlusion": (float, "chance an occluder hides the target fully"),
    "p_out_of_view": (float, "chance the target leaves the frame"),
    "p_distractors": (float, "chance a sequence has similar-looking distractors"),
    "max_distractors": (int, "most distractors in a sequence"),
    "distractor_similarity": (float, "1: distractors have the target's colours"),
    "p_illumination": (float, "chance of illumination change"),
    "p_motion_blur": (float, "chance of motion blur"),
    "blur_strength": (float, "blur length per px of motion"),
    "p_scale": (float, "chance of scale variation"),
    "p_deformation": (float, "chance of deformation"),
    "p_camera_motion": (float, "chance of camera panning"),
    "noise": (float, "sensor noise std in grey levels"),
    "jpeg_quality": (int, "JPEG quality 1..100"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from trackkit.data.synth import PRESETS, SPLITS

    p.epilog = ("Every split, test included, keeps its full ground truth (groundtruth.txt, cover/absence/"
                "cut_by_image labels) so results can be scored locally. Same arguments give the same bytes.")
    p.add_argument("out", help="dataset root; the split goes to OUT/<split>")
    p.add_argument("--split", choices=SPLITS, default="val")
    p.add_argument("--sequences", type=int, default=10, help="number of sequences")
    p.add_argument("--frames", type=int, default=100, help="frames per sequence")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", choices=list(PRESETS), default="default", help="difficulty preset")
    p.add_argument("--workers", type=int, default=1, help="processes writing sequences in parallel")
    p.add_argument("--overwrite", action="store_true", help="regenerate even if settings differ or files exist")
    p.add_argument("--no-progress", action="store_true")
    knobs = p.add_argument_group("difficulty knobs (override the preset)")
    for name, (typ, help_) in KNOBS.items():
        knobs.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None, help=help_)


def run(args) -> int:
    from trackkit.data.synth import get_synth_preset, write_split

    cfg = get_synth_preset(args.preset)
    changes = {k: getattr(args, k) for k in KNOBS if getattr(args, k) is not None}
    if "max_distractors" in changes:
        m = changes.pop("max_distractors")
        changes["n_distractors"] = (min(cfg.n_distractors[0], m), m)
    cfg = cfg.replace(**changes)
    path = write_split(args.out, args.split, args.sequences, args.frames, args.seed, cfg,
                       overwrite=args.overwrite, workers=args.workers, progress=not args.no_progress)
    print(f"wrote {args.sequences} sequences x {args.frames} frames to {path}")
    return 0
