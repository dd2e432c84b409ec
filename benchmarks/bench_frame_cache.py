"""Training throughput from lazily rendered vs cached procedural frames, two trainings side by side.

    python benchmarks/bench_frame_cache.py                 # ~2 min on 2 cores
    python benchmarks/bench_frame_cache.py --samples 1500 --concurrent 1

The main job runs two workers, each training a network with one torch thread and one loader
process. From lazy frames (``SyntheticData.load``) each loader renders every frame it draws,
so four processes share two cores; from cached frames (``trackkit.study.shared.cached_frames``,
what ``cached_training`` uses) the frames are rendered once into memory-mapped files and read
in the training process (no loader process: ``cached_training`` trains so). This
script runs ``--concurrent`` copies of the reference tracker's training (one epoch) at once in
each mode, in one run, and prints samples/s per mode and their ratio; it also checks that both
modes give bit-identical weights (the cache and the loader count change where pixels come
from, not what they are).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time


def _train(mode: str, cache: str, out: str, samples: int, queue) -> None:
    import torch

    torch.set_num_threads(1)
    from trackkit.families import get_preset
    from trackkit.families.recipes import train_preset
    from trackkit.study.probes import ce_presets
    from trackkit.study.reference import REFERENCE_PROFILES
    from trackkit.study.shared import SyntheticData, cached_frames

    s = REFERENCE_PROFILES["cpu"]
    data = SyntheticData(s["synth_preset"], s["n_train"], s["train_frames"])
    sequences = cached_frames(cache, data, 0, progress=False, log=None) if mode == "cached" else data.load(0)
    preset, _ = ce_presets(get_preset(s["preset"]), search_size=s["search_size"], keep_ratio=1.0, ce_loc=[1, 2],
                           train_epochs=1, lr=s["lr"], samples_per_epoch=samples, batch_size=s["batch_size"])
    if mode == "cached":  # as cached_training trains: the frames are a copy away, no loader process
        preset = preset.override(["train.num_workers=0"])
    torch.manual_seed(0)
    log = train_preset(preset, sequences, out, seed=0, device="cpu", progress=False)
    weights = torch.load(f"{out}/model.pth", map_location="cpu", weights_only=False)
    state = weights["model"] if isinstance(weights, dict) and "model" in weights else weights
    checksum = float(sum(v.double().sum() for v in state.values() if torch.is_tensor(v) and v.is_floating_point()))
    queue.put((mode, log[-1]["samples_per_s"], checksum))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=960, help="pairs per training (one epoch)")
    ap.add_argument("--concurrent", type=int, default=2, help="trainings at once (the main job runs 2)")
    args = ap.parse_args(argv)

    from trackkit.study.reference import REFERENCE_PROFILES
    from trackkit.study.shared import SyntheticData, cached_frames

    work = tempfile.mkdtemp(prefix="bench_frame_cache_")
    s = REFERENCE_PROFILES["cpu"]
    t0 = time.perf_counter()
    cached_frames(work, SyntheticData(s["synth_preset"], s["n_train"], s["train_frames"]), 0, progress=False, log=None)
    print(f"rendering the training split once into the cache: {time.perf_counter() - t0:.1f} s")
    ctx = mp.get_context("fork")
    rates: dict[str, list[float]] = {}
    sums: dict[str, set] = {}
    for mode in ("lazy", "cached"):
        queue = ctx.Queue()
        procs = [ctx.Process(target=_train, args=(mode, work, f"{work}/{mode}{k}", args.samples, queue))
                 for k in range(args.concurrent)]
        for p in procs:
            p.start()
        got = [queue.get() for _ in procs]
        for p in procs:
            p.join()
        rates[mode] = [r for _, r, _ in got]
        sums[mode] = {c for _, _, c in got}
        print(f"{mode:>7}: {args.concurrent} trainings at once, samples/s each: "
              + ", ".join(f"{r:.1f}" for r in rates[mode]))
    lazy, cached = (sum(rates[m]) / len(rates[m]) for m in ("lazy", "cached"))
    print(f"cached / lazy throughput: {cached / lazy:.2f}x")
    same = sums["lazy"] == sums["cached"] and len(sums["lazy"]) == 1
    print(f"same weights in both modes: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
