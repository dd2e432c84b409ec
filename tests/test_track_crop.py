"""Crops against a direct numpy transcription of OSTrack's sample_target + cv2 INTER_LINEAR."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from trackkit.crop import box_in_crop, crop_geometry, normalize, sample_crops, stack_frames


def cv2_linear_resize(img: np.ndarray, out: int) -> np.ndarray:
    """cv2.resize(..., INTER_LINEAR) without fixed-point rounding: half-pixel centres, a source
    index below 0 or at/after the last pixel takes the edge pixel with weight 1."""
    def axis(n):
        scale = n / out
        s = (np.arange(out) + 0.5) * scale - 0.5
        i0 = np.floor(s).astype(int)
        f = s - i0
        f = np.where(i0 < 0, 0.0, f)
        i0 = np.where(i0 < 0, 0, i0)
        f = np.where(i0 >= n - 1, 0.0, f)
        i0 = np.where(i0 >= n - 1, n - 1, i0)
        i1 = np.minimum(i0 + 1, n - 1)
        return i0, i1, f

    y0, y1, fy = axis(img.shape[0])
    x0, x1, fx = axis(img.shape[1])
    img = img.astype(np.float64)
    rows = img[y0] * (1 - fy)[:, None, None] + img[y1] * fy[:, None, None]
    return rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]


def ostrack_sample_target(im, box, factor, out, quirk=True):
    """The public OSTrack code, transcribed: slice, zero-pad, resize."""
    x, y, w, h = box
    crop_sz = math.ceil(math.sqrt(w * h) * factor)
    x1 = round(x + 0.5 * w - crop_sz * 0.5)
    y1 = round(y + 0.5 * h - crop_sz * 0.5)
    x2, y2 = x1 + crop_sz, y1 + crop_sz
    extra = 1 if quirk else 0
    x1_pad, y1_pad = max(0, -x1), max(0, -y1)
    x2_pad = max(x2 - im.shape[1] + extra, 0)
    y2_pad = max(y2 - im.shape[0] + extra, 0)
    crop = im[y1 + y1_pad:y2 - y2_pad, x1 + x1_pad:x2 - x2_pad]
    padded = np.pad(crop, ((y1_pad, y2_pad), (x1_pad, x2_pad), (0, 0)))
    assert padded.shape[:2] == (crop_sz, crop_sz)
    return cv2_linear_resize(padded, out), out / crop_sz


def _ours(frames, boxes, factor, out, quirk=True):
    t, sizes = stack_frames(frames)
    crops, rf = sample_crops(t, sizes, np.asarray(boxes, float), factor, out, quirk)
    return crops.permute(0, 2, 3, 1).numpy().astype(np.float64), rf


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(8, 60), w=st.integers(8, 60),
    cx=st.floats(0.05, 0.95), cy=st.floats(0.05, 0.95),
    bw=st.floats(1.0, 40.0), bh=st.floats(1.0, 40.0),
    factor=st.sampled_from([2.0, 4.0, 5.0]), out=st.sampled_from([16, 32, 37]),
    quirk=st.booleans(), seed=st.integers(0, 2**16),
)
def test_crop_matches_ostrack_reference(h, w, cx, cy, bw, bh, factor, out, quirk, seed):
    im = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    box = [cx * w - bw / 2, cy * h - bh / 2, bw, bh]
    ref, rf_ref = ostrack_sample_target(im, box, factor, out, quirk)
    ours, rf = _ours([im], [box], factor, out, quirk)
    assert rf[0] == rf_ref
    np.testing.assert_allclose(ours[0], ref, atol=2e-3)


def test_padding_at_borders_is_zero_and_quirk_drops_last_column():
    im = np.full((20, 30, 3), 200, dtype=np.uint8)
    box = [25.0, 15.0, 10.0, 10.0]  # crop runs past the right and bottom edges
    ours, _ = _ours([im], [box], 2.0, 20, quirk=False)
    x1, y1, crop = crop_geometry(np.array([box]), 2.0)
    assert (x1[0], y1[0], crop[0]) == (20, 10, 20)
    # identity scale: crop pixel (i, j) is image pixel (10+i, 20+j), zero outside
    assert np.all(ours[0, :10, :10] == 200) and np.all(ours[0, 10:] == 0) and np.all(ours[0, :, 10:] == 0)
    quirky, _ = _ours([im], [box], 2.0, 20, quirk=True)
    assert np.all(quirky[0, :9, :9] == 200) and np.all(quirky[0, 9, :] == 0) and np.all(quirky[0, :, 9] == 0)


def test_round_half_to_even_like_python():
    # 1x1 box, factor 2: crop 2, x1 = round(x + 0.5 - 1) lands on .5 for integer x
    xs = np.arange(-3.0, 6.0)
    boxes = np.stack([xs, xs, np.ones_like(xs), np.ones_like(xs)], axis=1)
    x1, y1, crop = crop_geometry(boxes, 2.0)
    assert (crop == 2).all()
    assert x1.tolist() == [round(x + 0.5 - 1.0) for x in xs] == [-4, -2, -2, 0, 0, 2, 2, 4, 4]


def test_batched_frames_of_different_sizes_equal_single():
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (hh, ww, 3), dtype=np.uint8) for hh, ww in [(40, 50), (64, 33), (20, 90)]]
    boxes = np.array([[5.0, 6.0, 20.0, 10.0], [20.0, 40.0, 10.0, 30.0], [70.0, 2.0, 15.0, 12.0]])
    batch, rf = _ours(frames, boxes, 4.0, 24)
    for k in range(3):
        one, rf1 = _ours(frames[k:k + 1], boxes[k:k + 1], 4.0, 24)
        assert np.array_equal(one[0], batch[k]) and rf1[0] == rf[k]


def test_bad_boxes_and_frames_raise():
    with pytest.raises(ValueError, match="too small"):
        crop_geometry(np.array([[0.0, 0.0, 0.0, 5.0]]), 2.0)
    with pytest.raises(ValueError, match="not finite"):
        crop_geometry(np.array([[np.nan, 0.0, 4.0, 5.0]]), 2.0)
    with pytest.raises(ValueError, match="uint8"):
        stack_frames([np.zeros((4, 4, 3), dtype=np.float32)])


def test_normalize_imagenet():
    crops = torch.full((1, 3, 2, 2), 255.0)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    out = normalize(crops, mean, std)
    np.testing.assert_allclose(out[0, :, 0, 0].numpy(), [(1 - m) / s for m, s in zip(mean, std)], rtol=1e-6)


def test_template_box_in_crop():
    # OSTrack transform_image_to_crop(box, box, rf, sz, normalize=True): centred at (sz-1)/2
    box = np.array([[10.0, 20.0, 30.0, 40.0]])
    rf = np.array([128 / math.ceil(math.sqrt(1200) * 2)])
    tb = box_in_crop(box, box, rf, 128)
    wh = box[0, 2:] * rf[0]
    np.testing.assert_allclose(tb[0], np.r_[(127 / 2 - wh / 2) / 128, wh / 128])
