"""Track many sequences at once: one forward pass advances every sequence in a batch.

``batch_size`` slots each hold one sequence and its family state (a one-row
:data:`~trackkit.track.tracker.State`). Every round, free slots take the next sequences
(their first frames are initialised together), then every busy slot's next frame is cropped on
the device, the slots' states are concatenated and all of them go through the family's step in
one call; the new state is split back into the slots. A finished sequence frees its slot at
once, so sequences of different lengths keep the batch full. Frames are decoded ahead by a
small thread pool (no DataLoader: the next frame of each slot is known in advance).

Rows never interact (crops, window, decode, map-back and every family's state are per row), so
a sequence gets exactly the boxes :meth:`ModelTracker.track` gives it one frame at a time,
provided the model's forward is itself batch-independent. The crops are (elementwise float32
math). The network's kernels are made so by :func:`trackkit.track.invariance.batch_invariant`
(``ModelTracker(batch_invariant=True)``, the default); see that module for what holds on which
CPU. float64 is *not* a fix here: MKL's dgemm itself changes summation order with the number of
rows (e.g. 61 vs 183) and oneDNN has no float64 convolution.

Frame times: one round's wall time (crop + model + post-processing) is shared equally by the
frames it advanced; frame 0's time is the initialisation step's share.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from trackkit.track.tracker import ModelTracker, State, cat_states, index_state


@dataclass
class TrackedSequence:
    """One tracked sequence: boxes (N, 4) x, y, w, h px, per-frame wall times (N,) in seconds,
    and the family's per-frame records (name -> (N,), NaN at frame 0)."""

    name: str
    boxes: np.ndarray
    times: np.ndarray
    records: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class _Slot:
    seq: object
    state: State
    boxes: list
    times: list
    records: dict = field(default_factory=dict)
    nxt: object = None  # future for frame len(boxes)

    @property
    def done(self) -> bool:
        return len(self.boxes) >= len(self.seq)

    def result(self) -> TrackedSequence:
        n = len(self.boxes)
        recs = {}
        for k, vals in self.records.items():  # vals[j] belongs to frame j + 1
            a = np.full(n, np.nan)
            a[1:1 + len(vals)] = vals
            recs[k] = a
        return TrackedSequence(self.seq.name, np.stack(self.boxes), np.asarray(self.times), recs)


def track_batched(tracker: ModelTracker, sequences: Iterable, batch_size: int = 16,
                  prefetch_workers: int = 2, on_frames: Callable[[int], None] | None = None) -> Iterator[TrackedSequence]:
    """Track ``sequences`` (each with ``name``, ``frames``, ``boxes[0]``) ``batch_size`` at a
    time; yield a :class:`TrackedSequence` as each one finishes (completion order).

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
            #    free slots and initialise them together
            for slot in [s for s in slots if s.done]:
                slots.remove(slot)
                yield slot.result()
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
                state = tracker.init_batch(frames, init)
                dt = (time.perf_counter() - t0) / len(new)
                for k, (seq, _) in enumerate(new):
                    slot = _Slot(seq, index_state(state, k), [init[k]], [dt])
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
            step = tracker.step_batch(frames, cat_states([s.state for s in busy]), prev)
            dt = (time.perf_counter() - t0) / len(busy)
            for k, s in enumerate(busy):
                s.state = index_state(step.state, k) if len(busy) > 1 else step.state
                s.boxes.append(step.boxes[k])
                s.times.append(dt)
                for name, vals in step.records.items():
                    s.records.setdefault(name, []).append(float(np.asarray(vals).reshape(-1)[k]))
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
