"""Does a tracker measure the target's size, or carry the previous box's size forward?

A tracker crops the search region around its previous box (side = search factor x that box's
size) and predicts the new box in crop units. If the network reads the target's apparent size,
a previous box that is too large gives a crop in which the target looks small, the prediction
shrinks and the error corrects itself. If it outputs roughly the size it saw in training, the
prediction scales with the previous box: an error carries over to the next frame, and a bias
above 1 compounds frame after frame (the box grows until IoU is gone).

:func:`scale_response` measures this in one tracking step: the template from frame 0's true
box; at frame ``k`` the previous box is the true box scaled by ``s`` about its centre; the
predicted side ``sqrt(w h)`` over the true side, as a function of ``s``:

- ``slope``: least-squares slope of ``log(predicted / true side)`` on ``log s`` -- 0 when the
  size is measured, 1 when the previous box's size is copied;
- ``bias``: geometric mean of predicted / true side at ``s = 1`` (previous box = true box):
  with a slope near 1, the factor the box grows by per frame;
- ``ratio@<s>``: the geometric mean of predicted / true side at each scale.

One step from a fresh tracking state (for STDTrack: the first-frame token and an empty token
maintainer), so the number is the network's response to the crop, not to its memory.
"""
from __future__ import annotations

import numpy as np

__all__ = ["scale_response", "SCALES"]

# within about one standard deviation of the training crops' scale jitter (exp(N(0,1) * 0.25) per side)
SCALES = (0.75, 1.0, 4 / 3)


def scale_response(tracker, sequences, frames=(5, 20), scales=SCALES) -> dict:
    """``{'slope', 'bias', 'n', 'ratio@<s>' ...}`` of a :class:`~trackkit.track.tracker.ModelTracker`
    over ``sequences`` (``frame(i)``, ``boxes``), at each frame index of ``frames`` the sequence
    has where the target is visible (``visible`` when the sequence has it); see the module docstring."""
    if 1.0 not in scales or len(scales) < 2:
        raise ValueError(f"scales={scales}: need 1.0 and at least one other scale")
    logs, ratios = [], []
    for seq in sequences:
        boxes = np.asarray(seq.boxes, dtype=np.float64)
        visible = np.asarray(getattr(seq, "visible", np.ones(len(boxes), bool)), bool)
        ks = [k for k in frames if k < len(boxes) and visible[k] and np.all(boxes[k, 2:] > 0)]
        if not ks or not np.all(boxes[0, 2:] > 0):
            continue
        f0 = seq.frame(0)
        for k in ks:
            fk, true = seq.frame(k), boxes[k]
            prev = np.stack([_scaled(true, s) for s in scales])
            n = len(scales)
            state = tracker.init_batch([f0] * n, np.repeat(boxes[:1], n, 0))
            step = tracker.step_batch([fk] * n, state, prev)
            side = np.sqrt(np.prod(np.asarray(step.boxes, np.float64)[:, 2:], axis=1))
            r = np.log(np.maximum(side, 1e-9) / np.sqrt(true[2] * true[3]))
            logs.extend(np.log(scales))
            ratios.extend(r)
    if not ratios:
        raise ValueError("scale_response: no sequence has a visible target at the probed frames")
    x, y = np.asarray(logs), np.asarray(ratios)
    slope = float(np.polyfit(x, y, 1)[0])
    out = {"slope": slope, "bias": float(np.exp(y[x == 0].mean())), "n": int((x == 0).sum())}
    for s in scales:
        out[f"ratio@{s:.2f}"] = float(np.exp(y[np.isclose(x, np.log(s))].mean()))
    return out


def _scaled(box: np.ndarray, s: float) -> np.ndarray:
    """x, y, w, h box scaled by ``s`` about its centre."""
    c = box[:2] + box[2:] / 2
    wh = box[2:] * s
    return np.concatenate([c - wh / 2, wh])
