"""trackkit.track.scale: the size-response probe, on trackers whose answer is known."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackkit.families import build_tracker
from trackkit.track.scale import SCALES, scale_response
from trackkit.track.tracker import Step


class Seq:
    def __init__(self, boxes, visible=None, hw=(120, 160)):
        self.boxes = np.asarray(boxes, dtype=np.float64)
        if visible is not None:
            self.visible = np.asarray(visible, bool)
        self.hw = hw

    def frame(self, i):
        return np.zeros((*self.hw, 3), np.uint8)


class Rule:
    """A tracker answering ``size = true^(1 - a) * prev^a * bias`` about the true centre: it
    measures the size (a = 0), carries the previous box's (a = 1) or anything between."""

    def __init__(self, a, bias):
        self.a, self.bias = a, bias
        self.current = None  # the true box of the frame last read (RuleSeq.frame sets it)

    def init_batch(self, frames, boxes):
        return {"n": len(frames)}

    def step_batch(self, frames, state, prev):
        prev = np.asarray(prev, np.float64)
        c = prev[:, :2] + prev[:, 2:] / 2  # the probe scales about the true centre
        true = self.current
        wh = true[2:] ** (1 - self.a) * prev[:, 2:] ** self.a * self.bias
        return Step(np.concatenate([c - wh / 2, wh], 1), state, {})


class RuleSeq(Seq):
    def __init__(self, boxes, tracker, **kw):
        super().__init__(boxes, **kw)
        self.tracker = tracker

    def frame(self, i):
        self.tracker.current = self.boxes[i]
        return super().frame(i)


def sequences(rule, n=3, length=30, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        wh = rng.uniform(8, 40, (length, 2))
        xy = rng.uniform(0, 100, (length, 2))
        out.append(RuleSeq(np.concatenate([xy, wh], 1), rule))
    return out


@settings(max_examples=25, deadline=None)
@given(a=st.floats(0, 1), bias=st.floats(0.5, 2.0))
def test_slope_and_bias_recover_the_rule(a, bias):
    rule = Rule(a, bias)
    got = scale_response(rule, sequences(rule))
    assert got["slope"] == pytest.approx(a, abs=1e-9)
    assert got["bias"] == pytest.approx(bias, rel=1e-9)
    for s in SCALES:
        assert got[f"ratio@{s:.2f}"] == pytest.approx(bias * s ** a, rel=1e-9)
    assert got["n"] == 3 * 2  # three sequences, frames 5 and 20


def test_invisible_and_short_frames_are_skipped_and_nothing_left_is_an_error():
    rule = Rule(1.0, 1.0)
    seqs = sequences(rule, n=2)
    seqs[0].visible = np.ones(30, bool)
    seqs[0].visible[20] = False
    seqs[1].boxes = seqs[1].boxes[:10]  # frame 20 does not exist
    assert scale_response(rule, seqs)["n"] == 2
    seqs[0].visible[5] = False
    seqs[1].boxes[5, 2] = 0.0  # no true size there
    with pytest.raises(ValueError, match="no sequence has a visible target"):
        scale_response(rule, seqs)
    with pytest.raises(ValueError, match="need 1.0"):
        scale_response(rule, seqs, scales=(0.5, 2.0))


def test_runs_on_every_model_tracker_kind():
    """One step of a real (untrained) network per policy: a centre head and STDTrack's token state."""
    rng = np.random.default_rng(0)
    boxes = np.concatenate([rng.uniform(40, 60, (25, 2)), rng.uniform(20, 30, (25, 2))], 1)
    seqs = [Seq(boxes, hw=(160, 200))]
    for preset in ("ostrack-cpu", "stdtrack-cpu-full"):
        got = scale_response(build_tracker(preset), seqs)
        assert np.isfinite(got["slope"]) and got["bias"] > 0 and got["n"] == 2
