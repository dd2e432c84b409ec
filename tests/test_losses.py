"""Losses against hand-computed values (OSTrack focal / GIoU / L1, SimTrack GIoU / L1)."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trackkit.errors import TrackkitError
from trackkit.train.losses import (
    TrackingLoss,
    focal_loss,
    gaussian_heatmap,
    gaussian_radius,
)


def test_gaussian_radius_hand_value():
    # w = h = 4 cells, overlap 0.7: r1 = 7.630, r2 = 14.693, r3 = (-11.2 + sqrt(179.2)) / 2
    r = gaussian_radius(torch.tensor([[4.0, 4.0]]), 0.7)
    assert r.item() == pytest.approx((-11.2 + math.sqrt(179.2)) / 2, rel=1e-9)
    assert r.item() == pytest.approx(1.0933, abs=1e-4)


def test_heatmap_hand_values():
    # box x1=4, y1=6, w=h=4 cells on 16x16 -> centre (6, 8), radius 1, sigma 0.5
    hm = gaussian_heatmap(torch.tensor([[4 / 16, 6 / 16, 4 / 16, 4 / 16]]), 16)
    assert hm.shape == (1, 1, 16, 16)
    m = hm[0, 0]
    assert m[8, 6] == 1.0
    for dy, dx, v in [(0, 1, math.exp(-2)), (1, 0, math.exp(-2)), (1, 1, math.exp(-4)), (-1, -1, math.exp(-4))]:
        assert m[8 + dy, 6 + dx].item() == pytest.approx(v, rel=1e-6)
    assert m[8, 8] == 0 and m[10, 6] == 0  # outside the (2r+1)^2 window
    assert (m > 0).sum() == 9


def test_heatmap_rounds_half_to_even():
    # centre x = 2.5 cells -> 2 (torch.round, half to even), y = 3.5 -> 4
    hm = gaussian_heatmap(torch.tensor([[2 / 16, 3 / 16, 1 / 16, 1 / 16]]), 16)[0, 0]
    assert hm[4, 2] == 1.0 and (hm == 1).sum() == 1


def test_focal_loss_hand_value():
    pred = torch.tensor([[0.8, 0.5], [0.1, 0.2]])
    tgt = torch.tensor([[1.0, 0.5], [0.0, 0.0]])
    pos = math.log(0.8) * 0.2 ** 2
    neg = (math.log(0.5) * 0.5 ** 2 * 0.5 ** 4 + math.log(0.9) * 0.1 ** 2 + math.log(0.8) * 0.2 ** 2)
    assert focal_loss(pred, tgt).item() == pytest.approx(-(pos + neg), rel=1e-6)
    # no positive: divided by 1
    assert focal_loss(pred, tgt * 0.5).item() == pytest.approx(
        -(math.log(0.2) * 0.64 * 0.5 ** 4 + math.log(0.5) * 0.25 * 0.75 ** 4
          + math.log(0.9) * 0.01 + math.log(0.8) * 0.04), rel=1e-6)


def test_giou_l1_hand_values():
    # pred cx,cy,w,h (.5,.5,.2,.2) -> xyxy (.4,.4,.6,.6); gt x,y,w,h (.5,.5,.2,.2) -> (.5,.5,.7,.7)
    out = {"boxes": torch.tensor([[0.5, 0.5, 0.2, 0.2]])}
    gt = torch.tensor([[0.5, 0.5, 0.2, 0.2]])
    giou = 1 / 7 - (0.09 - 0.07) / 0.09
    total, parts = TrackingLoss(0.0, 2.0, 5.0)(out, gt)
    assert parts["giou"] == pytest.approx(1 - giou, rel=1e-5)
    assert parts["l1"] == pytest.approx(0.1, rel=1e-5)
    assert total.item() == pytest.approx(2 * (1 - giou) + 5 * 0.1, rel=1e-5)
    assert parts["iou"] == pytest.approx(1 / 7, rel=1e-5)
    assert "focal" not in parts


def test_gt_is_clamped_and_perfect_prediction_is_zero():
    gt = torch.tensor([[0.8, 0.2, 0.4, 0.4]])  # x2 = 1.2 -> clamped to 1
    out = {"boxes": torch.tensor([[0.9, 0.4, 0.2, 0.4]])}  # = clamped gt
    _, parts = TrackingLoss(0.0)(out, gt)
    assert parts["giou"] == pytest.approx(0, abs=1e-5) and parts["l1"] == pytest.approx(0, abs=1e-6)


def test_ostrack_total_uses_all_three_weights():
    gt = torch.tensor([[4 / 16, 6 / 16, 4 / 16, 4 / 16]])
    score = torch.full((1, 1, 16, 16), 0.1)
    out = {"boxes": torch.tensor([[0.4, 0.5, 0.25, 0.25]]), "score_map": score}
    total, parts = TrackingLoss(1.0, 2.0, 5.0)(out, gt)
    assert total.item() == pytest.approx(parts["focal"] + 2 * parts["giou"] + 5 * parts["l1"], rel=1e-5)
    assert parts["focal"] == pytest.approx(focal_loss(score, gaussian_heatmap(gt, 16)).item())


def test_corner_head_needs_zero_focal_weight():
    out = {"boxes": torch.tensor([[0.5, 0.5, 0.2, 0.2]])}
    with pytest.raises(TrackkitError, match="focal_weight"):
        TrackingLoss(1.0)(out, torch.tensor([[0.4, 0.4, 0.2, 0.2]]))


def test_nan_boxes_stop_training():
    with pytest.raises(TrackkitError, match="NaN"):
        TrackingLoss(0.0)({"boxes": torch.full((1, 4), float("nan"))}, torch.zeros(1, 4))


@settings(max_examples=40, deadline=None)
@given(cx=st.floats(0.05, 0.95), cy=st.floats(0.05, 0.95), w=st.floats(0.02, 0.6), h=st.floats(0.02, 0.6),
       f=st.sampled_from([8, 14, 16]))
def test_heatmap_one_peak_at_rounded_centre(cx, cy, w, h, f):
    box = torch.tensor([[cx - w / 2, cy - h / 2, w, h]], dtype=torch.float64)
    hm = gaussian_heatmap(box, f)[0, 0]
    ix, iy = round(cx * f), round(cy * f)  # Python round is half to even too
    assert hm.min() >= 0 and hm.max() <= 1
    if ix < f and iy < f:
        assert (hm == 1).sum() == 1 and hm[iy, ix] == 1
    else:
        assert (hm == 1).sum() == 0


def test_inverted_boxes_zero_the_giou_term_like_the_official_actors():
    # corner head output with x2 < x1: GIoU would exceed 1 (negative loss); official code uses 0
    out = {"boxes": torch.tensor([[0.5, 0.5, -0.2, 0.2], [0.5, 0.5, 0.2, 0.2]])}
    gt = torch.tensor([[0.4, 0.4, 0.2, 0.2], [0.4, 0.4, 0.2, 0.2]])
    total, parts = TrackingLoss(0.0, 2.0, 5.0)(out, gt)
    assert parts["giou"] == 0.0 and total.item() == pytest.approx(5 * parts["l1"]) and total.item() > 0
    assert 0 <= parts["iou"] <= 1
