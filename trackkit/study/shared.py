"""Artifacts the runs of a study share: pretrained backbones, trained weights and tracking
results, built once.

Grid points of an ablation often need the same expensive thing: every keep ratio of an
inference-time candidate-elimination sweep tracks with ONE trained network, and every run
compares against the same no-CE reference. Each such artifact lives under
``<cache_dir>/<kind>/<key>/``, where the key hashes everything that determines it (the
settings and the trackkit code version), and is built under a file lock
(``filelock``), so parallel workers wait for the one that builds it instead of building it
twice. A build interrupted half-way resumes: training from its last epoch checkpoint,
tracking from its finished sequences (both are deterministic, so resumed artifacts equal
uninterrupted ones).

    mae = cached_pretraining(cache, preset, PretrainConfig(), seed=0)   # .../mae_pretrain.pth
    preset = preset.override([f"model.pretrained={mae}"])
    w = cached_training(cache, preset, data=SyntheticData("default", 40, 60), seed=0)
    model, preset = load_model(w.path)            # trackkit.families
    res = cached_tracking(cache, tracker, dataset, settings={...}, batch_size=16)
"""
from __future__ import annotations

import hashlib
import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from trackkit.atomic import atomic_open, write_json

WEIGHTS_FILE = "model.pth"
META_FILE = "meta.json"
DONE_FILE = "done.json"
RESULTS_NAME = "tracker"
CODE_VERSION_ENV = "TRACKKIT_CODE_VERSION"


def settings_key(settings: dict, code: bool = True) -> str:
    """16 hex digits naming an artifact: sha256 of the canonical JSON of ``settings`` (plus the
    trackkit code version when ``code``; code that changes the numbers changes the key)."""
    blob = dict(settings)
    if code:
        blob["_code_version"] = current_code_version()
    text = json.dumps(blob, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def current_code_version() -> str:
    """The study runner's code version (``TRACKKIT_CODE_VERSION``, set for the kernels it starts,
    so every run of one study uses the same keys even if a source file changes meanwhile), else
    the hash of the trackkit sources now."""
    import os

    from trackkit.study.cache import code_version

    return os.environ.get(CODE_VERSION_ENV) or code_version()


@contextmanager
def locked(path: Path, log=print, what: str = "artifact"):
    """Hold ``<path>.lock`` (blocking); says so when another process holds it first."""
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if log:
            log(f"waiting for another worker building {what} {path.name} ...")
        t0 = time.perf_counter()
        lock.acquire()
        if log:
            log(f"... it finished after {time.perf_counter() - t0:.0f} s")
    try:
        yield
    finally:
        lock.release()


@dataclass(frozen=True)
class SyntheticData:
    """A procedural training split generated in memory (``trackkit.data.synth``)."""

    synth_preset: str = "default"
    n_sequences: int = 40
    n_frames: int = 60
    split: str = "train"

    def load(self, seed: int):
        from trackkit.data.synth import SynthDataset, get_synth_preset

        return SynthDataset(get_synth_preset(self.synth_preset), self.n_sequences, self.n_frames, seed=seed,
                            split=self.split)


def cached_frames(cache_dir: str | Path, data: SyntheticData, seed: int, *, progress: bool = True,
                  log=print) -> list:
    """``data.load(seed)``'s sequences with every frame rendered once into
    ``<cache_dir>/frames/<key>/`` (one ``N x H x W x 3`` uint8 ``.npy`` per sequence) and read
    back memory-mapped: the same boxes, labels and pixels as the lazy sequences.

    Why: a training run draws each frame ~5 times (10 epochs x 1500 pairs over 6000 frames),
    and rendering a 320 x 240 frame costs about as much CPU as a third of the training step that
    uses it. A loader process hides that when one training runs alone, but with two workers
    training side by side (the main job) the renderers take the trainers' cores: two concurrent
    reference trainings ran at 52.7 samples/s each from lazy frames and at 71.6 from these
    (``benchmarks/bench_frame_cache.py``, same weights). Memory-mapped files let every process of
    a job share one copy through the page cache (1.4 GB for 60 x 100 frames), rendered once.
    """
    import numpy as np

    from trackkit.data.sequence import NpyFrames
    from trackkit.progress import progress as progress_bar

    sequences = list(data.load(seed))
    key = settings_key({"kind": "frames", "data": asdict(data), "seed": seed})
    folder = Path(cache_dir) / "frames" / key
    files = [folder / f"{i:05d}.npy" for i in range(len(sequences))]
    with locked(folder, log, "frames"):
        if not (folder / DONE_FILE).is_file():
            todo = [i for i, f in enumerate(files) if not f.is_file()]  # a resumed build keeps finished files
            bar = progress_bar(todo, desc=f"rendering {len(todo)} sequences -> {folder}", disable=not progress)
            for i in bar:
                seq = sequences[i]
                frames = np.stack([np.asarray(seq.frame(j)) for j in range(len(seq))])
                with atomic_open(files[i], "wb") as fh:
                    np.save(fh, frames)
            write_json(folder / DONE_FILE, {"data": asdict(data), "seed": seed, "key": key,
                                            "sequences": len(sequences)})
    return [replace(seq, frames=NpyFrames(f)) for seq, f in zip(sequences, files)]


@dataclass(frozen=True)
class TrainedWeights:
    path: Path  # a trackkit.families.save_model weights file
    key: str
    cached: bool  # True when this call found it built
    meta: dict


def training_settings(preset, data: SyntheticData, seed: int) -> dict:
    """What determines trained weights: family, model, crop and training settings, data, seed
    (the preset's name and description do not; the family's task reads its schedule, e.g. CE's
    keep rate, from these settings)."""
    return {"kind": "weights", "family": preset.family, "model": asdict(preset.model),
            "track": asdict(preset.track), "train": asdict(preset.train), "data": asdict(data), "seed": seed}


def cached_training(cache_dir: str | Path, preset, *, data: SyntheticData, seed: int = 0, device: str = "cpu",
                    progress: bool = True, log=print) -> TrainedWeights:
    """Train ``preset`` (its family's task) on ``data`` once per settings key; later calls (any
    process) reuse it. Initial weights come from ``torch.manual_seed(seed)``.
    """
    import torch

    from trackkit.families import train_preset
    from trackkit.train.trainer import CHECKPOINT

    # The frames come memory-mapped from the cache (cached_frames), so handing them over costs a
    # copy: a loader process would only add inter-process transfer (measured ad hoc, two trainings side
    # by side on 2 cores: 63 samples/s each with one loader process, 78 without). The weights do
    # not depend on it (every draw is a function of seed, epoch and index).
    preset = preset.override(["train.num_workers=0"])
    key = settings_key(training_settings(preset, data, seed))
    folder = Path(cache_dir) / "weights" / key
    with locked(folder, log, "weights"):
        meta_path = folder / META_FILE
        if (folder / WEIGHTS_FILE).is_file() and meta_path.is_file():
            return TrainedWeights(folder / WEIGHTS_FILE, key, True, json.loads(meta_path.read_text()))
        resume = (folder / CHECKPOINT).is_file()
        if log:
            log(f"{'resuming' if resume else 'training'} {preset.name} -> {folder}")
        t0 = time.perf_counter()
        sequences = cached_frames(cache_dir, data, seed, progress=progress, log=log)
        torch.manual_seed(seed)
        epochs = train_preset(preset, sequences, folder, seed=seed, device=device, resume=resume,
                              progress=progress)
        meta = {**training_settings(preset, data, seed), "preset": preset.name, "key": key,
                "wall_s": round(time.perf_counter() - t0, 1), "resumed": resume, "log": epochs}
        write_json(meta_path, meta)  # last: its presence marks the artifact complete
        return TrainedWeights(folder / WEIGHTS_FILE, key, False, meta)


def cached_tracking(cache_dir: str | Path, tracker, dataset, *, settings: dict, batch_size: int = 16,
                    progress: bool = True, log=print) -> tuple[Path, bool]:
    """Track ``dataset`` with ``tracker`` into ``<cache_dir>/results/<key>/tracker`` (got10k
    layout) once per settings key; returns (results folder, was cached). The folder name is
    fixed: two trackers with the same settings (e.g. keep ratio 1.0 and the no-CE reference)
    share one folder whatever they are called.

    ``settings`` must identify the weights, the network variant, the crop settings and the
    dataset (the caller knows what they are); the tracker must be deterministic.
    """
    from trackkit.track.runner import run_tracker

    key = settings_key({"kind": "results", **settings})
    folder = Path(cache_dir) / "results" / key
    with locked(folder, log, "results"):
        done = folder / DONE_FILE
        if done.is_file():
            return folder / RESULTS_NAME, True
        summary = run_tracker(tracker, dataset, folder, name=RESULTS_NAME, batch_size=batch_size, resume=True,
                              progress=progress)
        write_json(done, {"settings": settings, "key": key, "frames": summary.frames,
                          "seconds": round(summary.seconds, 3), "fps": summary.fps})
        return folder / RESULTS_NAME, False


def pretraining_settings(preset, cfg, seed: int, images: str | Path | None = None) -> dict:
    """What determines a pretrained encoder: the ViT's fields (not the rest of the preset: the
    tracker's head, CE blocks and search size play no part), its pretraining image size, the
    input normalisation and crop factors the crops are made with, the pretraining config, the
    seed and the image source. So every preset with the same ViT and crop settings (e.g.
    ``ostrack-cpu`` and ``ostrack-cpu-noce``) shares one artifact. An image folder is named by
    its resolved path and file count (its bytes are not hashed: a folder edited in place under
    the same name and count is the caller's to rename)."""
    from trackkit.pretrain import image_size, list_images
    from trackkit.pretrain.mae import backbone_fields

    source = ({"images": str(Path(images).resolve()), "files": len(list_images(images))} if images is not None
              else {"synth_split": "pretrain"})
    return {"kind": "pretrain", "backbone": backbone_fields(preset.model), "image_size": image_size(preset.model),
            "mean": list(preset.track.mean), "std": list(preset.track.std),
            "template_factor": preset.track.template_factor, "search_factor": preset.track.search_factor,
            "pretrain": cfg.to_dict(), "seed": seed, "data": source}


def cached_pretraining(cache_dir: str | Path, preset, cfg, seed: int = 0, *, images: str | Path | None = None,
                       device: str = "cpu", progress: bool = True, log=print) -> Path:
    """MAE-pretrain ``preset``'s ViT (``trackkit.pretrain``, config ``cfg``) once per settings key
    into ``<cache_dir>/pretrain/<key>/``; returns its ``mae_pretrain.pth``, which any tracker
    preset with this ViT loads with ``model.pretrained=<path>``. Later calls (any process,
    any study) reuse it; an interrupted build resumes from its last finished epoch (exactly:
    the pretraining loop's resume is bit-exact). ``meta.json``, written last, marks it complete
    and holds the settings, the per-epoch log and the wall time of this build.
    """
    from trackkit.pretrain import CHECKPOINT, LOG, WEIGHTS, pretrain_preset

    settings = pretraining_settings(preset, cfg, seed, images)
    key = settings_key(settings)
    folder = Path(cache_dir) / "pretrain" / key
    with locked(folder, log, "pretrained backbone"):
        meta_path = folder / META_FILE
        if (folder / WEIGHTS).is_file() and meta_path.is_file():
            return folder / WEIGHTS
        resume = (folder / CHECKPOINT).is_file()
        if log:
            log(f"{'resuming' if resume else 'pretraining'} {preset.name}'s ViT -> {folder}")
        t0 = time.perf_counter()
        epochs = pretrain_preset(preset, cfg, folder, seed=seed, images=images, resume=resume, device=device,
                                 progress=progress)
        write_json(meta_path, {**settings, "preset": preset.name, "key": key, "log_file": LOG,
                               "wall_s": round(time.perf_counter() - t0, 1), "resumed": resume, "log": epochs})
        return folder / WEIGHTS
