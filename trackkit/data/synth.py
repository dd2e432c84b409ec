"""The procedural tracking benchmark: textured targets, distractors, occluders and camera
effects, in GOT-10k layout on disk or rendered lazily in memory.

No real dataset can be downloaded here, so trackkit ships this generator. One sequence is a
pure function of ``(config, seed, split, index, n_frames)``: every random stream is a numpy
Generator seeded with ``[seed, crc32(split), index]``, so the same arguments give the same
boxes, labels and (through PIL's JPEG encoder at a fixed quality) the same bytes, and
different splits never share sequences.

Ground truth semantics (GOT-10k layout):

* ``groundtruth.txt``: the target's box *clipped to the image* (the visible extent inside the
  frame, as annotators draw it), ``%.4f``. While the target is partly outside the image
  (``cut_by_image = 1``) the box is the clipped part; while it is entirely outside, the clipped
  box is degenerate (zero width or height at the border it left) and ``absence = 1``. Behind an
  occluder the box stays where the target is. The unclipped box is ``seq.frames.scene.target.boxes``.
* The **test split keeps its full ground truth** (GOT-10k's server keeps it hidden; this kit
  keeps it so test results can be scored locally).
* ``cover.label``: ceil(8 * visible / total) where *total* counts the target's mask pixels
  (on the pixel grid extended past the border) and *visible* those inside the image and not
  hidden by an object drawn in front; ``absence.label = 1`` exactly when ``cover == 0``;
  ``cut_by_image.label = 1`` when some target pixel lies outside the image. Labels come from
  the drawn masks, before motion blur, noise and JPEG.
* In memory, ``make_sequence(...).frames[i]`` is the exact rendered frame; the JPEG on disk is
  that frame after lossy compression, so they agree only up to JPEG loss (a few grey levels,
  more on sharp texture edges). Boxes and labels are identical (boxes are rounded to 4
  decimals in both).
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import multiprocessing
import os
import tempfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trackkit import atomic
from trackkit.data.sequence import Sequence
from trackkit.data.synth_render import SceneFrames, scene_labels
from trackkit.data.synth_scene import plan_scene, scene_attributes
from trackkit.errors import ConfigError

GENERATOR_VERSION = 1  # bump when the same arguments start giving different pixels
SPLITS = ("train", "val", "test")
LABELS = ("cover", "absence", "cut_by_image")


@dataclass(frozen=True)
class SynthConfig:
    """Difficulty knobs of the generator. Sizes and speeds are fractions of the image's
    short side; ``p_*`` are per-sequence probabilities that an event is staged."""

    width: int = 320
    height: int = 240
    target_size: tuple[float, float] = (0.12, 0.3)  # sqrt(w h) at frame 0, fraction of short side
    aspect: tuple[float, float] = (0.5, 2.0)  # w / h at frame 0 (log-uniform)
    speed: float = 0.012  # mean centre speed per frame, fraction of short side
    p_fast: float = 0.2  # sequence moves fast_factor times faster
    fast_factor: float = 3.0
    p_abrupt_seq: float = 0.3  # sequence has abrupt motion ...
    p_abrupt: float = 0.03  # ... with this per-frame chance of a jump or reversal
    p_scale: float = 0.4  # scale variation staged
    scale_change: float = 2.5  # size factor spanned by a scale-varying sequence
    p_deformation: float = 0.3  # shape exponent, aspect and texture rotation morph
    aspect_change: float = 2.5  # aspect factor spanned by a deforming sequence
    appearance_change: float = 0.6  # max blend of the target's texture into a second one
    p_occlusion: float = 0.4
    p_full_occlusion: float = 0.4  # per occluder: larger than the target, placed on its path
    n_occluders: tuple[int, int] = (1, 2)
    p_out_of_view: float = 0.15  # the target leaves the frame for a while and returns
    p_distractors: float = 0.5
    n_distractors: tuple[int, int] = (1, 3)
    distractor_similarity: float = 0.85  # 1: same colours as the target
    p_distractor_front: float = 0.3  # per distractor: drawn in front (it can occlude)
    p_illumination: float = 0.3
    illumination: float = 0.35  # amplitude of global gain and gradient changes
    p_motion_blur: float = 0.3
    blur_strength: float = 1.0  # blur length = strength * displacement per frame (>= a floor)
    p_camera_motion: float = 0.3
    camera_pan: float = 0.1  # backdrop margin the camera pans over, fraction of short side
    clutter: int = 12  # static shapes baked into the background
    noise: float = 4.0  # sensor noise std, grey levels
    jpeg_quality: int = 90
    anno_fps: int = 10

    def __post_init__(self):
        def bad(msg):
            raise ConfigError(f"SynthConfig: {msg}")

        if self.width < 16 or self.height < 16:
            bad(f"resolution {self.width}x{self.height} is below 16x16")
        for name in ("target_size", "aspect", "n_occluders", "n_distractors"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                bad(f"{name}={getattr(self, name)} must be a range 0 <= lo <= hi")
        if not (0 < self.target_size[0] and self.target_size[1] <= 0.8):
            bad(f"target_size={self.target_size} must lie in (0, 0.8]")
        if self.aspect[0] <= 0:
            bad(f"aspect={self.aspect} must be positive")
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name.startswith("p_") and not 0.0 <= v <= 1.0:
                bad(f"{f.name}={v} is not a probability")
        for name in ("speed", "blur_strength", "illumination", "noise", "camera_pan", "appearance_change"):
            if getattr(self, name) < 0:
                bad(f"{name}={getattr(self, name)} must be >= 0")
        if self.scale_change < 1 or self.aspect_change < 1 or self.fast_factor < 1:
            bad("scale_change, aspect_change and fast_factor must be >= 1")
        if not 0 <= self.distractor_similarity <= 1 or not 0 <= self.appearance_change <= 1:
            bad("distractor_similarity and appearance_change must lie in [0, 1]")
        if not 1 <= self.jpeg_quality <= 100:
            bad(f"jpeg_quality={self.jpeg_quality} must lie in 1..100")
        if self.clutter < 0 or self.anno_fps <= 0:
            bad("clutter must be >= 0 and anno_fps > 0")

    def replace(self, **changes) -> "SynthConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


_QUIET = dict(p_fast=0.0, p_abrupt_seq=0.0, p_scale=0.0, p_deformation=0.0, appearance_change=0.0,
              p_occlusion=0.0, p_out_of_view=0.0, p_distractors=0.0, p_illumination=0.0,
              p_motion_blur=0.0, p_camera_motion=0.0)

# Named difficulty presets (the CLI's --preset).
PRESETS: dict[str, SynthConfig] = {
    "default": SynthConfig(),
    "easy": SynthConfig(p_fast=0.05, p_abrupt_seq=0.1, p_occlusion=0.2, p_full_occlusion=0.2, p_out_of_view=0.05,
                        p_distractors=0.2, n_distractors=(1, 1), distractor_similarity=0.6, p_illumination=0.15,
                        p_motion_blur=0.1, p_camera_motion=0.1, clutter=6, noise=2.0, appearance_change=0.3),
    "hard": SynthConfig(target_size=(0.08, 0.25), p_fast=0.35, p_abrupt_seq=0.5, p_occlusion=0.6, p_full_occlusion=0.5,
                        n_occluders=(1, 3), p_out_of_view=0.3, p_distractors=0.8, n_distractors=(2, 4),
                        distractor_similarity=0.95, p_illumination=0.5, p_motion_blur=0.5, p_camera_motion=0.5,
                        clutter=20, noise=6.0, appearance_change=0.8),
    # the frozen_vs_tuned study's target domain, shifted from "easy" (where its tracker is
    # pre-trained): crowded with near-copies of the target, often occluded, busier backgrounds
    # (more clutter shapes, noise, lighting changes) and targets whose texture blends into another
    "shifted": SynthConfig(p_occlusion=0.7, p_full_occlusion=0.5, n_occluders=(1, 3), p_distractors=0.9,
                           n_distractors=(2, 4), distractor_similarity=0.9, p_distractor_front=0.5,
                           p_illumination=0.5, illumination=0.5, clutter=30, noise=6.0, appearance_change=0.9),
    # nothing staged: a textured target gliding over a textured background (debugging, tests)
    "clean": SynthConfig(noise=0.0, **_QUIET),
}


def get_synth_preset(name: str) -> SynthConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown synth preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name]


def sequence_name(split: str, index: int) -> str:
    """GOT-10k style name, 1-based: ``SYN_Val_000001`` for index 0 of ``val``."""
    return f"SYN_{split.capitalize()}_{index + 1:06d}"


def sequence_rng(seed: int, split: str, index: int) -> np.random.Generator:
    if seed < 0 or index < 0:
        raise ConfigError(f"seed ({seed}) and sequence index ({index}) must be >= 0")
    # crc32, not hash(): stable across processes and Python versions
    return np.random.default_rng([seed, zlib.crc32(split.encode()), index])


def _round4(a: np.ndarray) -> np.ndarray:
    # the float that '%.4f' writes, so the disk and memory boxes compare equal
    return np.array([float(f"{v:.4f}") for v in np.ravel(a)], np.float64).reshape(np.shape(a))


def make_sequence(cfg: SynthConfig, seed: int, index: int, split: str = "train", n_frames: int = 100) -> Sequence:
    """Sequence ``index`` of ``split``: boxes and labels computed now, frames rendered lazily
    (``seq.frames[i]`` renders frame ``i`` alone; ``seq.frames.scene`` is the plan)."""
    if n_frames < 2:
        raise ConfigError(f"n_frames={n_frames}: a sequence needs at least 2 frames")
    scene = plan_scene(cfg, sequence_rng(seed, split, index), n_frames)
    lab = scene_labels(scene)
    full = scene.target.boxes
    x1 = np.clip(full[:, 0], 0, cfg.width)
    y1 = np.clip(full[:, 1], 0, cfg.height)
    x2 = np.clip(full[:, 0] + full[:, 2], 0, cfg.width)
    y2 = np.clip(full[:, 1] + full[:, 3], 0, cfg.height)
    boxes = _round4(np.stack([x1, y1, x2 - x1, y2 - y1], axis=1))
    flags = scene_attributes(scene, lab)
    attributes = {
        "resolution": (cfg.width, cfg.height),
        "object_class": scene.info["object_class"],
        "motion_class": "jumping" if flags["abrupt_motion"] else ("darting" if flags["fast_motion"] else "gliding"),
        "major_class": "synthetic shape",
        "root_class": "object",
        "motion_adverb": "fast" if flags["fast_motion"] else "slowly",
        "anno_fps": cfg.anno_fps,
        **flags,
        **{k: v for k, v in scene.info.items() if k != "object_class"},
        "seed": seed,
        "index": index,
        "split": split,
    }
    labels = {k: lab[k] for k in LABELS}
    return Sequence(sequence_name(split, index), SceneFrames(scene), boxes, labels, attributes, dataset="synth")


class SynthDataset:
    """A lazy list of synthetic sequences: ``ds[i]`` plans sequence ``i`` when asked (a few
    milliseconds) and keeps nothing, so it scales to any ``n_sequences``."""

    def __init__(self, cfg: SynthConfig, n_sequences: int, n_frames: int, seed: int = 0, split: str = "train"):
        if n_sequences < 0:
            raise ConfigError(f"n_sequences={n_sequences} must be >= 0")
        self.cfg, self.n_sequences, self.n_frames, self.seed, self.split = cfg, n_sequences, n_frames, seed, split
        self.name, self.root = "synth", None

    def __len__(self) -> int:
        return self.n_sequences

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"sequence {i} out of range for {len(self)} sequences")
        return make_sequence(self.cfg, self.seed, i % len(self), self.split, self.n_frames)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def names(self) -> list[str]:
        return [sequence_name(self.split, i) for i in range(len(self))]


# ------------------------------------------------------------------------------- disk
def frame_name(i: int) -> str:
    return f"{i + 1:08d}.jpg"


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def meta_info(seq: Sequence) -> str:
    """``meta_info.ini`` text: GOT-10k's ``[METAINFO]`` header and ``key: value`` lines."""
    a = seq.attributes
    n = len(seq)
    lines = ["[METAINFO]", "url: procedural (trackkit synth)", "begin_frame: 1", f"end_frame: {n}"]
    for k in ("object_class", "motion_class", "major_class", "root_class", "motion_adverb"):
        lines.append(f"{k}: {a[k]}")
    lines.append(f"anno_fps: {a['anno_fps']}Hz")
    lines.append(f"resolution: ({a['resolution'][0]}, {a['resolution'][1]})")
    lines.append(f"generator: trackkit synth v{GENERATOR_VERSION}")
    skip = {"object_class", "motion_class", "major_class", "root_class", "motion_adverb", "anno_fps", "resolution"}
    lines += [f"{k}: {v}" for k, v in a.items() if k not in skip]
    return "\n".join(lines) + "\n"


def _replace_bytes(path: Path, data: bytes) -> None:
    """Atomic (temporary file + ``os.replace``) but not fsynced: an fsync per frame costs ~10 ms
    here, 5x the rendering. :func:`write_sequence` syncs once before marking a sequence done."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_sequence(seq_dir: Path, seq: Sequence, quality: int) -> None:
    """Write one sequence; ``meta_info.ini`` goes last and marks the folder complete."""
    seq_dir.mkdir(parents=True, exist_ok=True)
    for i in range(len(seq)):
        _replace_bytes(seq_dir / frame_name(i), encode_jpeg(seq.frames[i], quality))
    os.sync()  # frames durable before the completion marker (one sync instead of one per frame)
    gt = "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in seq.boxes)
    atomic.write_text(seq_dir / "groundtruth.txt", gt)
    for k in LABELS:
        atomic.write_text(seq_dir / f"{k}.label", "".join(f"{int(v)}\n" for v in seq.labels[k]))
    atomic.write_text(seq_dir / "meta_info.ini", meta_info(seq))


def _write_one(job) -> int:
    root, cfg, seed, split, index, n_frames = job
    seq = make_sequence(cfg, seed, index, split, n_frames)
    write_sequence(Path(root) / split / seq.name, seq, cfg.jpeg_quality)
    return n_frames


def write_split(root, split: str, n_sequences: int, n_frames: int, seed: int = 0, cfg: SynthConfig | None = None,
                overwrite: bool = False, workers: int = 1, progress: bool = True) -> Path:
    """Generate ``root/<split>`` in GOT-10k layout and return its path.

    Resumable: a sequence whose ``meta_info.ini`` exists is kept, so rerunning an interrupted
    command finishes the job (and a larger ``n_sequences`` extends a split). ``synth.json``
    records the settings; resuming with different settings raises unless ``overwrite``."""
    from trackkit.progress import progress as progress_bar

    cfg = cfg or SynthConfig()
    if split not in SPLITS:
        raise ConfigError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    if n_sequences < 1:
        raise ConfigError(f"n_sequences={n_sequences} must be >= 1")
    split_dir = Path(root) / split
    stamp = {"generator_version": GENERATOR_VERSION, "seed": seed, "frames": n_frames, "config": cfg.to_dict()}
    stamp_path = split_dir / "synth.json"
    if stamp_path.is_file() and not overwrite:
        old = json.loads(stamp_path.read_text())
        if old != stamp:
            diff = sorted(k for k in stamp if old.get(k) != stamp[k])
            raise ConfigError(f"{stamp_path}: existing split was generated with other settings ({', '.join(diff)} "
                              "differ); pass overwrite=True (--overwrite) or choose another folder")
    make_sequence(cfg, seed, 0, split, n_frames)  # fail on bad arguments before writing anything
    atomic.write_json(stamp_path, stamp)
    todo = [i for i in range(n_sequences)
            if overwrite or not (split_dir / sequence_name(split, i) / "meta_info.ini").is_file()]
    jobs = [(str(root), cfg, seed, split, i, n_frames) for i in todo]
    with progress_bar(total=len(jobs) * n_frames, unit="frame", desc=f"synth {split}", disable=not progress) as bar:
        if workers > 1 and len(jobs) > 1:
            # spawn, not fork: callers (training scripts) may hold torch threads
            with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                for n in pool.map(_write_one, jobs):
                    bar.update(n)
        else:
            for job in jobs:
                bar.update(_write_one(job))
    atomic.write_text(split_dir / "list.txt", "".join(sequence_name(split, i) + "\n" for i in range(n_sequences)))
    return split_dir
