"""Two trivial trackers that pin down what a benchmark's numbers mean.

- :class:`InitBoxTracker` repeats the initial box forever: the floor a real tracker must beat
  (it scores whatever overlap a target that does not move keeps with its start).
- :class:`GroundTruthTracker` returns the annotated box: the ceiling. Under the GOT-10k
  protocol it scores AO 1.0; under pytracking's OTB protocol the success AUC is 20/21, because
  the 21 thresholds include 1.0 and the test is strict (IoU > 1.0 never holds).

Both follow the :class:`trackkit.track.tracker.Tracker` protocol.
"""
from __future__ import annotations

import numpy as np

from trackkit.errors import DataError


class InitBoxTracker:
    """Predicts the initial box in every frame."""

    name = "init_box"

    def __init__(self):
        self._box = None

    def initialize(self, frame, box, sequence=None) -> None:
        self._box = np.asarray(box, dtype=np.float64).reshape(4).copy()

    def track(self, frame) -> np.ndarray:
        return self._box.copy()


class GroundTruthTracker:
    """Predicts the ground-truth box of each frame (from ``sequence.boxes``).

    Needs a fully annotated sequence; frames whose ground truth is NaN (target absent) repeat
    the last finite box so the result file stays valid.
    """

    name = "ground_truth"

    def __init__(self):
        self._boxes = None
        self._i = 0
        self._last = None

    def initialize(self, frame, box, sequence=None) -> None:
        if sequence is None:
            raise ValueError("GroundTruthTracker needs the sequence (initialize(..., sequence=seq))")
        if not sequence.fully_annotated:
            raise DataError(None, f"sequence {sequence.name!r} has ground truth for {len(sequence.boxes)} of "
                                  f"{len(sequence)} frames; the ground-truth baseline needs all of them")
        self._boxes = sequence.boxes
        self._i = 0
        self._last = np.asarray(box, dtype=np.float64).reshape(4).copy()

    def track(self, frame) -> np.ndarray:
        self._i += 1
        b = self._boxes[self._i]
        if np.isfinite(b).all():
            self._last = b.copy()
        return self._last.copy()


BASELINES = {"init_box": InitBoxTracker, "ground_truth": GroundTruthTracker}
