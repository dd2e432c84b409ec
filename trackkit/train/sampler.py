"""Training clip sampling: ``T`` template and ``S`` search frames of one sequence (OSTrack's
``lib/train/data/sampler.py``, causal mode; pytracking's ``num_template_frames`` /
``num_search_frames``). ``T = S = 1`` is OSTrack's pair; STDTrack's 8-frame dense clips and
tracker families with template banks use the same code.

The sample stream is a pure function of ``(seed, epoch, index)``: sample ``i`` of epoch ``e``
draws everything it needs (sequence, frames, jitter, augmentation flags) from its own
``numpy.random.Generator`` seeded with ``[seed, e, i]``. So

- a run is deterministic given the seed, whatever the number of loader workers;
- resuming needs no sampler RNG state beyond ``(seed, epoch)``;
- DDP ranks shard the same stream (:class:`ShardedBatchSampler`), and the samples seen by
  ``N`` ranks of batch ``B`` are those one process sees with batch ``N*B``.

Sampling one clip:

1. a sequence uniformly at random; it must have more than ``min_visible`` visible frames and
   at least ``min_length`` frames (OSTrack: ``> 2*(1+1)`` and ``>= 20``), else redraw;
2. the base frame ``t`` among the visible frames (the first template), then the search frames
   among the visible frames in ``[t+1, t+max_gap+g)`` (causal; ``S`` draws with replacement,
   in time order — pytracking draws with replacement); when there is none, ``g`` grows by 5 and
   both are redrawn. Further templates (``T > 1``) among the visible frames in
   ``[t-max_gap-g, t)``, with replacement, in time order, before the base frame;
3. each search crop box is jittered as OSTrack's ``_get_jittered_box``:
   ``wh' = wh * exp(N(0,1) * scale_jitter)``, ``c' = c + sqrt(w'h') * center_jitter * (U(0,1) - 0.5)``;
   template boxes are not jittered (OSTrack's template factors are 0).
4. with ``reverse_prob > 0`` (STDTrack's dense clips) the search frames are played backwards
   (latest first) with that probability; each frame keeps its own jitter, flip and brightness.
   Drawn last, so streams with ``reverse_prob = 0`` are those drawn before the option existed.
5. augmentation flags: grayscale for the whole clip with ``grayscale_prob`` (OSTrack's joint
   ``ToGrayscale``); an independent horizontal flip of each crop with ``flip_prob`` and an
   independent brightness factor ``U(max(0, 1-b), 1+b)`` per crop. OSTrack flips the pair
   jointly (p 0.5) and then each crop (p 0.5); the two compose to independent fair flips, which
   is what is drawn here.

The order of the draws for ``T = S = 1`` is the order of OSTrack-style pair sampling before
clips existed (sequence, template, search, jitter, grayscale, flips, brightness), so pair
streams are unchanged.
"""
from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence as _Seq
from dataclasses import dataclass

import numpy as np
import torch

from trackkit.data.sequence import Sequence
from trackkit.errors import ConfigError
from trackkit.train.config import TrainConfig


@dataclass(frozen=True)
class ClipSpec:
    """Everything about one training clip except the pixels (T templates, S search frames)."""

    seq: int                       # index into the sampler's sequences
    template_frames: tuple[int, ...]
    search_frames: tuple[int, ...]
    template_boxes: np.ndarray     # (T, 4) ground truth x, y, w, h px (also the template crop boxes)
    search_boxes: np.ndarray       # (S, 4) ground truth in the search frames
    search_extract: np.ndarray     # (S, 4) jittered boxes the search crops are taken around
    gray: bool
    flip_templates: tuple[bool, ...]
    flip_search: tuple[bool, ...]
    bright_templates: tuple[float, ...]
    bright_search: tuple[float, ...]
    reversed: bool = False         # search frames played latest first (listed in playing order)


class ClipSampler:
    """Deterministic stream of :class:`ClipSpec` over a list of sequences.

    Args:
        sequences: any sequences (a :class:`~trackkit.data.Dataset`, a ``SynthDataset``, a list);
            only fully annotated ones are used.
        cfg: sampling and augmentation settings (``max_sample_interval``, jitter, aug probs).
        seed: stream seed.
        num_templates, num_search: frames per clip (1 and 1: OSTrack's pairs).
        reverse_prob: probability that a clip is played backwards (STDTrack: 0.5).
        min_visible: a sequence needs strictly more visible frames than this.
        min_length: and at least this many frames.
    """

    def __init__(self, sequences: _Seq[Sequence], cfg: TrainConfig, seed: int = 0, num_templates: int = 1,
                 num_search: int = 1, reverse_prob: float = 0.0, min_visible: int = 4, min_length: int = 20):
        if num_templates < 1 or num_search < 1:
            raise ConfigError(f"a clip needs at least one template and one search frame "
                              f"(got {num_templates} and {num_search})")
        # materialised once: lazy sources (SynthDataset) build a new object per access, and a
        # kept object keeps its per-sequence caches (textures), which makes frames cheaper
        self.sequences = [sequences[k] for k in range(len(sequences))]
        self.cfg = cfg
        self.seed = int(seed)
        self.num_templates, self.num_search = int(num_templates), int(num_search)
        self.reverse_prob = float(reverse_prob)
        self._visible: dict[int, np.ndarray] = {}
        self.usable = []
        for k, seq in enumerate(self.sequences):
            if len(seq.boxes) != len(seq) or len(seq) < min_length:
                continue
            if int(self.visible(k).sum()) > min_visible:
                self.usable.append(k)
        if not self.usable:
            raise ConfigError(
                f"no usable training sequence among {len(sequences)}: each needs a box for every "
                f"frame, at least {min_length} frames and more than {min_visible} visible ones")

    def visible(self, k: int) -> np.ndarray:
        if k not in self._visible:
            seq = self.sequences[k]
            vis = seq.visible & (seq.boxes[:, 2] > 0) & (seq.boxes[:, 3] > 0)
            self._visible[k] = vis
        return self._visible[k]

    def __call__(self, epoch: int, index: int) -> ClipSpec:
        """Sample ``index`` of ``epoch``."""
        rng = np.random.default_rng([self.seed, int(epoch), int(index)])
        cfg = self.cfg
        max_gap = cfg.max_sample_interval
        while True:
            k = self.usable[int(rng.integers(len(self.usable)))]
            vis = self.visible(k)
            n = len(vis)
            gap = 0
            while True:
                t = _pick_visible(rng, vis, 0, n - 1)  # leave room for a later search frame
                search = []
                if t is not None:
                    for _ in range(self.num_search):
                        s = _pick_visible(rng, vis, t + 1, t + max_gap + gap)
                        if s is None:
                            break
                        search.append(s)
                if len(search) == self.num_search:
                    break
                gap += 5
                if gap > 5 * n:  # no visible frame after any visible frame: another sequence
                    search = []
                    break
            if not search:
                continue
            # earlier templates: before the base frame; the base frame again when none is visible
            extra = [_pick_visible(rng, vis, t - max_gap - gap, t) for _ in range(self.num_templates - 1)]
            templates = sorted(t if e is None else e for e in extra) + [t]
            search = sorted(search)
            boxes = self.sequences[k].boxes
            extract = np.stack([jitter_box(rng, boxes[s], cfg.center_jitter, cfg.scale_jitter) for s in search])
            # boxes of visible frames have w, h > 0 and exp() > 0, so ceil(sqrt(w'h') * factor)
            # >= 1: OSTrack's "crop_sz < 1 -> invalid pair" check can never fire here.
            b = cfg.brightness_jitter
            gray = bool(rng.random() < cfg.grayscale_prob)
            flip_t = tuple(bool(rng.random() < cfg.flip_prob) for _ in templates)
            flip_s = tuple(bool(rng.random() < cfg.flip_prob) for _ in search)
            bright_t = tuple(float(rng.uniform(max(0.0, 1 - b), 1 + b)) for _ in templates)
            bright_s = tuple(float(rng.uniform(max(0.0, 1 - b), 1 + b)) for _ in search)
            backwards = bool(self.reverse_prob > 0 and rng.random() < self.reverse_prob)
            if backwards:  # the same frames played latest first; per-frame draws travel with their frame
                search, extract, flip_s, bright_s = search[::-1], extract[::-1].copy(), flip_s[::-1], bright_s[::-1]
            return ClipSpec(
                seq=k, template_frames=tuple(int(i) for i in templates), search_frames=tuple(int(i) for i in search),
                template_boxes=boxes[templates].copy(), search_boxes=boxes[search].copy(), search_extract=extract,
                gray=gray, flip_templates=flip_t, flip_search=flip_s, bright_templates=bright_t, bright_search=bright_s,
                reversed=backwards)


def _pick_visible(rng: np.random.Generator, vis: np.ndarray, lo: int, hi: int) -> int | None:
    """A visible frame in ``[lo, hi)`` uniformly at random, or None (OSTrack's
    ``_sample_visible_ids`` with one id)."""
    lo, hi = max(0, lo), min(len(vis), hi)
    ids = np.flatnonzero(vis[lo:hi]) + lo if hi > lo else np.empty(0, dtype=np.int64)
    if len(ids) == 0:
        return None
    return int(ids[rng.integers(len(ids))])


def jitter_box(rng: np.random.Generator, box: np.ndarray, center_jitter: float, scale_jitter: float) -> np.ndarray:
    """OSTrack's ``_get_jittered_box`` on one x, y, w, h box (pixels)."""
    box = np.asarray(box, dtype=np.float64)
    size = box[2:] * np.exp(rng.standard_normal(2) * scale_jitter)
    max_offset = np.sqrt(size.prod()) * center_jitter
    center = box[:2] + 0.5 * box[2:] + max_offset * (rng.random(2) - 0.5)
    return np.concatenate([center - 0.5 * size, size])


class ClipFrames(torch.utils.data.Dataset):
    """Map-style dataset over ``(epoch, index)`` keys: the spec plus its template and search
    frames (uint8).

    Frame decoding / rendering is the only per-sample CPU work, so it can run in DataLoader
    workers; cropping and augmentation happen batched on the device (:mod:`trackkit.train.augment`).
    """

    def __init__(self, sampler: ClipSampler):
        self.sampler = sampler

    def __getitem__(self, key: tuple[int, int]):
        spec = self.sampler(*key)
        seq = self.sampler.sequences[spec.seq]
        return (spec, [np.asarray(seq.frame(i)) for i in spec.template_frames],
                [np.asarray(seq.frame(i)) for i in spec.search_frames])


def collate_clips(items):
    """Keep specs and frame lists as lists (frames may differ in size)."""
    specs, zs, xs = zip(*items)
    return list(specs), list(zs), list(xs)


class ShardedBatchSampler(torch.utils.data.Sampler):
    """Batches of ``(epoch, index)`` keys for one rank, like ``DistributedSampler``.

    Epoch ``e`` has ``steps = samples_per_epoch // (batch_size * world_size)`` steps; rank ``r``
    takes the stream indices ``r, r + W, r + 2W, ...`` (the tail that does not fill a step on
    every rank is dropped, so all ranks run the same number of steps). Call :meth:`set_epoch`.
    """

    def __init__(self, samples_per_epoch: int, batch_size: int, rank: int = 0, world_size: int = 1):
        self.batch_size, self.rank, self.world_size = int(batch_size), int(rank), int(world_size)
        self.steps = int(samples_per_epoch) // (self.batch_size * self.world_size)
        if self.steps < 1:
            raise ConfigError(f"samples_per_epoch={samples_per_epoch} is less than one step of "
                              f"batch_size={batch_size} x {world_size} process(es)")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        w, b = self.world_size, self.batch_size
        for step in range(self.steps):
            first = step * b * w + self.rank
            yield [(self.epoch, first + j * w) for j in range(b)]
