"""LaSOT-MATLAB protocol against an independent frame-by-frame re-derivation, and hand
cases for the pytracking and TrackingNet protocols (their toolkit transcriptions are in
tests/test_eval_toolkits.py)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from trackkit.data.sequence import Sequence
from trackkit.errors import DataError
from trackkit.eval import evaluate
from trackkit.eval.protocols import matlab_colon
from trackkit.eval.results import SequenceResult
from trackkit.eval.synthetic import _NoFrames, perturbed_results, synthetic_dataset


def _seq(name, gt, dataset="otb", **labels):
    gt = np.asarray(gt, float)
    return Sequence(name, _NoFrames(len(gt)), gt, {k: np.asarray(v) for k, v in labels.items()}, {}, dataset)


def _data(seed, n_seq=4, n=40, dataset="otb"):
    rng = np.random.default_rng(seed)
    ds = synthetic_dataset(n_seq, n, seed=seed)
    res = perturbed_results(ds, seed=seed + 1, runs=1, times=False)
    seqs, out = [], {}
    for s in ds:
        gt = np.round(s.boxes)
        pred = np.abs(np.trunc(res[s.name].runs[0]))  # pytracking files hold ints
        pred[rng.random(n) < 0.1, 2] = 0              # zero-size predictions
        gt[rng.random(n) < 0.05, 2] = 0               # invalid gt frames
        labels = {}
        if dataset == "uav":
            gt[rng.random(n) < 0.1] = np.nan
            gt[0] = np.round(s.boxes[0])
        if dataset == "lasot":
            labels = {"full_occlusion": (rng.random(n) < 0.1).astype(int), "out_of_view": (rng.random(n) < 0.05).astype(int)}
        seqs.append(_seq(s.name, gt, dataset, **labels))
        out[s.name] = SequenceResult(s.name, [pred])
    return seqs, out


# The pytracking and TrackingNet protocols are checked against transcriptions of the
# toolkits' own code in tests/test_eval_toolkits.py; these are hand cases.
def test_pytracking_hand_rules():
    gt = [[10, 10, 10, 10]] * 3
    seq = _seq("a", gt)
    # perfect tracker: every frame contributes ceil(20 * 1) / 21
    r = evaluate([seq], {"a": SequenceResult("a", [gt])}, "otb")
    assert r.summary["auc"] == pytest.approx(20 / 21, rel=1e-6)
    # a gt row with x <= 0 is invalid (pytracking since 2022-08): the frame fails success
    gt_b = [[10, 10, 10, 10], [0, 10, 10, 10], [10, 10, 10, 10]]
    r = evaluate([_seq("b", gt_b)], {"b": SequenceResult("b", [gt_b])}, "otb")
    assert r.summary["auc"] == pytest.approx(2 / 3 * 20 / 21, rel=1e-6)
    r = evaluate([_seq("b", gt_b)], {"b": SequenceResult("b", [gt_b])}, "otb-wh")
    assert r.summary["auc"] == pytest.approx(20 / 21, rel=1e-6)
    # NaN and negative sizes raise with the line
    with pytest.raises(DataError, match="f.txt:2"):
        evaluate([seq], {"a": SequenceResult("a", [[[1, 1, 1, 1], [np.nan, 1, 1, 1], [1, 1, 1, 1]]], sources=["f.txt"])}, "otb")
    with pytest.raises(DataError, match="f.txt:3"):
        evaluate([seq], {"a": SequenceResult("a", [[[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, -1, 1]]], sources=["f.txt"])}, "otb")
    # shorter predictions: an error for lasot (otb pads: tests/test_eval_toolkits.py)
    with pytest.raises(DataError, match="lasot"):
        evaluate([_seq("a", gt, "lasot")], {"a": SequenceResult("a", [gt[:2]])}, "lasot")
    with pytest.raises(DataError, match="NaN in the annotation"):
        evaluate([_seq("a", [[1, 1, 5, 5], [np.nan] * 4, [1, 1, 5, 5]])], {"a": SequenceResult("a", [gt])}, "otb")


def test_multiple_runs_are_averaged():
    gt = [[10, 10, 10, 10]] * 4
    bad = [[10, 10, 10, 10]] + [[100, 100, 10, 10]] * 3
    r = evaluate([_seq("a", gt)], {"a": SequenceResult("a", [gt, bad])}, "otb")
    assert r.summary["auc"] == pytest.approx((20 / 21 + 20 / 21 / 4) / 2, rel=1e-6)


# --------------------------------------------------------------------- LaSOT MATLAB kit
def _lasot_reference(seqs, results):
    """Frame loop over calc_seq_err_robust.m + eval_tracker.m + plot_draw_save.m."""
    eps = np.finfo(float).eps
    thr_o = [k * 0.05 if k <= 10 else 1 - (20 - k) * 0.05 for k in range(21)]
    thr_o[10] = 0.5
    per = {"s": [], "p": [], "n": []}
    for seq in seqs:
        anno = seq.boxes
        res = [list(r) for r in results[seq.name].runs[0][: len(anno)]]
        n = len(anno)
        for i in range(1, n):
            r = res[i]
            if (any(math.isnan(v) for v in r) or r[2] <= 0 or r[3] <= 0) and not any(math.isnan(v) for v in anno[i]):
                res[i] = list(res[i - 1])
        res[0] = list(anno[0])
        absent = (seq.labels["full_occlusion"] == 1) | (seq.labels["out_of_view"] == 1)
        cs, cp, cn = np.zeros(21), np.zeros(51), np.zeros(51)
        for i in range(n):
            if absent[i]:
                continue
            a, r = anno[i], res[i]
            if all(v > 0 for v in a):
                iw = max(0, min(r[0] + r[2] - 1, a[0] + a[2] - 1) - max(r[0], a[0]) + 1)
                ih = max(0, min(r[1] + r[3] - 1, a[1] + a[3] - 1) - max(r[1], a[1]) + 1)
                ov = iw * ih / (r[2] * r[3] + a[2] * a[3] - iw * ih)
                c = (r[0] + (r[2] - 1) / 2, r[1] + (r[3] - 1) / 2)
                g = (a[0] + (a[2] - 1) / 2, a[1] + (a[3] - 1) / 2)
                e = math.hypot(c[0] - g[0], c[1] - g[1])
                en = math.hypot(c[0] / a[2] - g[0] / a[2], c[1] / a[3] - g[1] / a[3])
            else:
                ov, e, en = -1, -1, -1
            cs += np.array([ov > t for t in thr_o])
            cp += np.array([e <= t for t in range(51)])
            cn += np.array([en <= t / 100 for t in range(51)])
        for k, c in (("s", cs), ("p", cp), ("n", cn)):
            per[k].append(c / (n + eps))
    out = []
    for k in "spn":
        aa = np.array(per[k])
        aa = aa[aa.sum(1) > eps]
        bb = aa.mean(0)
        out.append(bb.mean() if k == "s" else bb[20])
    return out


def test_matlab_colon():
    v = matlab_colon(0, 0.05, 1)
    assert len(v) == 21 and v[15] == 0.75 and v[10] == 0.5 and v[-1] == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lasot_official_matches_rederivation(seed):
    seqs, res = _data(seed, n_seq=5, dataset="lasot")
    rng = np.random.default_rng(seed)
    for s in res.values():  # NaN predictions are legal here; one sequence fails completely
        s.runs[0][rng.random(len(s.runs[0])) < 0.05] = np.nan
    res[seqs[-1].name].runs[0][1:] = [1000, 1000, 5, 5]
    r = evaluate(seqs, res, "lasot-official")
    auc, prec, nprec = _lasot_reference(seqs, res)
    assert abs(r.summary["auc"] - auc) < 1e-9
    assert abs(r.summary["prec"] - prec) < 1e-9
    assert abs(r.summary["norm_prec"] - nprec) < 1e-9


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_scores_are_fractions_and_perfect_is_best(seed):
    seqs, res = _data(seed % 97, n_seq=2, n=15)
    for p in ("otb", "uav", "lasot-official", "trackingnet"):
        s = evaluate(seqs, res, p).summary
        for k in ("auc", "prec", "norm_prec"):
            assert 0.0 <= s[k] <= 1.0
        perfect = {q.name: SequenceResult(q.name, [np.nan_to_num(q.boxes, nan=1.0)]) for q in seqs}
        assert evaluate(seqs, perfect, p).summary["auc"] >= s["auc"] - 1e-12
