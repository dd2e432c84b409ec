"""Track many sequences at once: one forward pass advances every sequence in a batch.

``batch_size`` slots each hold one sequence. Every round, free slots take the next sequences
(their templates are cropped together), then every busy slot's next frame is cropped on the
device and all of them go through the model in one call. A finished sequence frees its slot
at once, so sequences of different lengths keep the batch full. Frames are decoded ahead by
a small thread pool (no DataLoader: the next frame of each slot is known in advance).

Rows never interact (crops, window, decode and map-back are per row), so a sequence gets
exactly the boxes :meth:`OneStreamTracker.track` gives it one frame at a time, provided the
model's forward is itself batch-independent. The crops are (elementwise float32 math); the
ViT's matmuls were on every shape tried (MKL sgemm). The convolutions of the head were not:
PyTorch picks the CPU convolution kernel per call (native im2col + GEMM for one small input,
oneDNN from batch 2, NNPACK from 16 when oneDNN is off), and even the native kernel threads
its GEMM differently alone than inside its per-sample loop; each sums in another order, so
boxes differed by ~1e-5 px between batch 1 and batch 3. ``OneStreamTracker(batch_invariant=
True)`` (the default) sends every convolution through oneDNN, whose rows do not depend on
the batch size, and the boxes are then bit-identical (tested on the CPU presets). float64 is
*not* a fix here: MKL's dgemm itself changes summation order with the number of rows
(e.g. 61 vs 183) and oneDNN has no float64 convolution.

Frame times: one round's wall time (crop + model + post-processing) is shared equally by the
frames it advanced; frame 0's time is the template step's share.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from trackkit.track.tracker import OneStreamTracker


@dataclass
class SequenceResult:
    """Boxes (N, 4) x, y, w, h px and per-frame wall times (N,) in seconds of one sequence."""

    name: str
    boxes: np.ndarray
    times: np.ndarray


@dataclass
class _Slot:
    seq: object
    template: torch.Tensor
    template_box: torch.Tensor
    boxes: list
    times: list
    nxt: object = None  # future for frame len(boxes)

    @property
    def done(self) -> bool:
        return len(self.boxes) >= len(self.seq)


def track_batched(tracker: OneStreamTracker, sequences: Iterable, batch_size: int = 16,
                  prefetch_workers: int = 2, on_frames: Callable[[int], None] | None = None) -> Iterator[SequenceResult]:
    """Track ``sequences`` (each with ``name``, ``frames``, ``boxes[0]``) ``batch_size`` at a
    time; yield a :class:`SequenceResult` as each one finishes (completion order).

    ``on_frames(n)`` is called after every round with the number of frames advanced (for a
    progress bar)."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    queue = iter(sequences)
    slots: list[_Slot] = []
    pool = ThreadPoolExecutor(max_workers=prefetch_workers) if prefetch_workers > 0 else None

    def load(seq, i):
        if pool is None:
            return _Ready(seq.frames[i])
        return pool.submit(seq.frames.__getitem__, i)

    try:
        exhausted = False
        while True:
            # 1. retire finished sequences (length-1 ones finish at initialisation), then fill
            #    free slots and crop their templates together
            for slot in [s for s in slots if s.done]:
                slots.remove(slot)
                yield SequenceResult(slot.seq.name, np.stack(slot.boxes), np.asarray(slot.times))
            new = []
            while not exhausted and len(slots) + len(new) < batch_size:
                seq = next(queue, None)
                if seq is None:
                    exhausted = True
                else:
                    new.append((seq, load(seq, 0)))
            if new:
                frames = [f.result() for _, f in new]
                init = np.stack([np.asarray(s.boxes[0], dtype=np.float64) for s, _ in new])
                t0 = time.perf_counter()
                z, zb = tracker.make_template(frames, init)
                dt = (time.perf_counter() - t0) / len(new)
                for k, (seq, _) in enumerate(new):
                    slot = _Slot(seq, z[k : k + 1], zb[k : k + 1], [init[k]], [dt])
                    if not slot.done:
                        slot.nxt = load(seq, 1)
                    slots.append(slot)
                if on_frames:
                    on_frames(len(new))
            busy = [s for s in slots if not s.done]
            if not busy:
                if exhausted and not slots:
                    return
                continue
            # 2. one step for every busy slot
            frames = [s.nxt.result() for s in busy]
            for s in busy:
                i = len(s.boxes) + 1
                s.nxt = load(s.seq, i) if i < len(s.seq) else None
            prev = np.stack([s.boxes[-1] for s in busy])
            t0 = time.perf_counter()
            z = torch.cat([s.template for s in busy]) if len(busy) > 1 else busy[0].template
            zb = torch.cat([s.template_box for s in busy]) if len(busy) > 1 else busy[0].template_box
            boxes = tracker.locate(frames, z, zb, prev)
            dt = (time.perf_counter() - t0) / len(busy)
            for s, b in zip(busy, boxes):
                s.boxes.append(b)
                s.times.append(dt)
            if on_frames:
                on_frames(len(busy))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class _Ready:
    """A finished 'future' (prefetching off)."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value
