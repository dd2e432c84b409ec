
import pytest
import torch
from hypothesis import given, settings, strategies as st

from trackkit import boxes as B

coord = st.floats(-500, 500, allow_nan=False, width=32)
size = st.floats(0.5, 300, allow_nan=False, width=32)
box = st.tuples(coord, coord, size, size)


def T(b, dtype=torch.float64):
    return torch.tensor(b, dtype=dtype)


@settings(max_examples=60, deadline=None)
@given(st.lists(box, min_size=1, max_size=6), st.sampled_from([torch.float32, torch.float64]))
def test_conversions_round_trip(bs, dtype):
    b = torch.tensor(bs, dtype=dtype).reshape(2, -1, 4) if len(bs) % 2 == 0 else torch.tensor(bs, dtype=dtype)
    tol = dict(atol=1e-3, rtol=1e-4) if dtype == torch.float32 else dict(atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(B.xyxy_to_xywh(B.xywh_to_xyxy(b)), b, **tol)
    torch.testing.assert_close(B.cxcywh_to_xywh(B.xywh_to_cxcywh(b)), b, **tol)
    torch.testing.assert_close(B.cxcywh_to_xyxy(B.xyxy_to_cxcywh(B.xywh_to_xyxy(b))), B.xywh_to_xyxy(b), **tol)
    assert B.xywh_to_xyxy(b).dtype == dtype and B.xywh_to_xyxy(b).shape == b.shape


@settings(max_examples=100, deadline=None)
@given(box, box, st.floats(0.1, 10))
def test_iou_giou_properties(a, b, s):
    ta, tb = T(a), T(b)
    iou = B.box_iou(ta, tb)
    assert 0 <= iou <= 1
    assert iou == pytest.approx(float(B.box_iou(tb, ta)), abs=1e-12)
    assert float(B.box_iou(ta, ta)) == pytest.approx(1.0)
    g = B.box_giou(ta, tb)
    assert -1 <= g <= float(iou) + 1e-12
    assert float(B.box_giou(ta, ta)) == pytest.approx(1.0)
    # scale invariance
    assert float(B.box_iou(ta * s, tb * s)) == pytest.approx(float(iou), abs=1e-9)
    assert float(B.center_error(ta * s, tb * s)) == pytest.approx(s * float(B.center_error(ta, tb)), rel=1e-9, abs=1e-9)
    assert float(B.normalized_center_error(ta * s, tb * s)) == pytest.approx(float(B.normalized_center_error(ta, tb)), rel=1e-9, abs=1e-9)


def test_hand_values_and_batch_shapes():
    a = T([0, 0, 10, 10])
    b = T([5, 0, 10, 10])
    assert float(B.box_iou(a, b)) == pytest.approx(50 / 150)
    assert float(B.box_giou(a, b)) == pytest.approx(50 / 150 - (150 - 150) / 150)
    far = T([20, 0, 10, 10])
    assert float(B.box_iou(a, far)) == 0
    assert float(B.box_giou(a, far)) == pytest.approx(0 - (300 - 200) / 300)
    assert float(B.center_error(a, b)) == 5
    assert float(B.normalized_center_error(b, a)) == pytest.approx(0.5)
    x = torch.rand(3, 5, 4, dtype=torch.float32) * 100
    assert B.box_iou(x, x).shape == (3, 5) and B.box_iou(x, x).dtype == torch.float32
    assert B.box_iou(x, x[:1]).shape == (3, 5)  # broadcasting
    assert float(B.box_iou(T([0, 0, 0, 0]), T([0, 0, 0, 0]))) == 0.0  # empty boxes: 0, not NaN


def test_formats_and_clip():
    a = T([[-5, -5, 20, 20], [630, 350, 20, 20]])
    c = B.clip_boxes(a, 640, 360)
    torch.testing.assert_close(c, T([[0, 0, 15, 15], [630, 350, 10, 10]]))
    xyxy = B.xywh_to_xyxy(a)
    torch.testing.assert_close(B.clip_boxes(xyxy, 640, 360, fmt="xyxy"), B.xywh_to_xyxy(c))
    torch.testing.assert_close(B.box_iou(xyxy, xyxy, fmt="xyxy"), torch.ones(2, dtype=torch.float64))
    assert B.box_area(a).tolist() == [400, 400]
    with pytest.raises(ValueError, match="unknown box format"):
        B.box_iou(a, a, fmt="yxhw")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_gpu():
    a = torch.rand(4, 4, device="cuda") * 50 + 1
    assert B.box_iou(a, a).device.type == "cuda"
