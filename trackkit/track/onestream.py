"""Tracking with a one-stream template + search network (OSTrack's ``lib/test/tracker/ostrack.py``).

Per sequence: crop the template around the initial box (template_factor, template_size) once;
every later frame, crop the search region around the previous box (search_factor,
search_size), run ``model(template, search, template_box=)``, multiply the score map by the
Hanning window, decode a normalised cx, cy, w, h in the search crop, map it back to the image
and clip it. No template update. Per-frame record: ``score``, the (windowed) peak the box was
decoded from.

Reading: OSTrack scales the prediction by ``search_size / resize_factor`` in float32 (a torch
tensor) before the float64 map-back; here the whole post-processing is float64 (differences
are far below a pixel).

The model needs ``forward(template, search, template_box=None)`` and
``decode(out, window=None, return_score=False)`` returning normalised cx, cy, w, h; a family
whose template box is computed differently overrides :meth:`OneStreamTracking.template_box`.
"""
from __future__ import annotations

import numpy as np
import torch

from trackkit.track.tracker import ModelTracker, State, Step


class OneStreamTracking:
    """The :class:`~trackkit.track.tracker.TrackingPolicy` of OSTrack-style trackers.

    State: ``template`` (B, 3, t, t) normalised crop, ``template_box`` (B, 4) the target's
    normalised x1, y1, w, h in it.
    """

    def deploy(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.eval()

    def template_box(self, tracker: ModelTracker, boxes: np.ndarray, resize_factor: np.ndarray) -> torch.Tensor:
        return tracker.box_in_template(boxes, resize_factor)

    def init(self, tracker: ModelTracker, frames, boxes: np.ndarray) -> State:
        z, rf, _ = tracker.crop(frames, boxes, "template")
        return {"template": z, "template_box": self.template_box(tracker, boxes, rf)}

    def step(self, tracker: ModelTracker, frames, state: State, prev: np.ndarray) -> Step:
        x, rf, sizes = tracker.crop(frames, prev, "search")
        model = tracker.model
        out = model(state["template"], x, template_box=state["template_box"])
        pred, score = model.decode(out, window=tracker.window, return_score=True)
        boxes = tracker.to_image(pred, prev, rf, sizes)
        return Step(boxes, state, {"score": score.detach().to("cpu", torch.float64).numpy()})
