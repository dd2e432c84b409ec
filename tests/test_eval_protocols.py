"""pytracking, LaSOT-MATLAB and TrackingNet protocols against small independent
re-derivations of the documented rules (frame-by-frame loops) and hand cases."""
import math

import numpy as np
import pytest
import torch
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


# --------------------------------------------------------------------- pytracking re-derivation
def _pyt_reference(seqs, results, dataset):
    thr_o = torch.arange(0.0, 1.0 + 0.05, 0.05, dtype=torch.float64).tolist()
    curves = {"s": [], "p": [], "n": []}
    for seq in seqs:
        gt = seq.boxes
        pred = [list(r) for r in results[seq.name].runs[0]]
        n = len(gt)
        for i in range(1, len(pred)):
            if (pred[i][2] == 0 or pred[i][3] == 0) and not any(math.isnan(v) for v in gt[i]):
                pred[i] = list(pred[i - 1])
        pred = (pred + [[0.0] * 4] * n)[:n]
        pred[0] = list(gt[0])
        cs, cp, cn = [0] * 21, [0] * 51, [0] * 51
        for i in range(n):
            px, py, pw, ph = pred[i]
            gx, gy, gw, gh = gt[i]
            valid = gw > 0 and gh > 0
            visible = True
            if dataset == "lasot":
                visible = seq.labels["full_occlusion"][i] == 0 and seq.labels["out_of_view"][i] == 0
                valid = valid and visible
            if valid:
                iw = max(min(px + pw - 1.0, gx + gw - 1.0) - max(px, gx) + 1.0, 0)
                ih = max(min(py + ph - 1.0, gy + gh - 1.0) - max(py, gy) + 1.0, 0)
                ov = iw * ih / (pw * ph + gw * gh - iw * ih)
                pcx, pcy, gcx, gcy = px + 0.5 * (pw - 1.0), py + 0.5 * (ph - 1.0), gx + 0.5 * (gw - 1.0), gy + 0.5 * (gh - 1.0)
                ce = math.sqrt((pcx - gcx) ** 2 + (pcy - gcy) ** 2)
                cen = math.sqrt((pcx / gw - gcx / gw) ** 2 + (pcy / gh - gcy / gh) ** 2)
            else:
                ov, ce, cen = -1.0, (-1.0 if dataset == "uav" else math.inf), -1.0
            if dataset == "lasot" and not visible:
                ce = cen = math.inf
            cs = [c + (ov > t) for c, t in zip(cs, thr_o)]
            cp = [c + (ce <= t) for c, t in zip(cp, range(51))]
            cn = [c + (cen <= t / 100.0) for c, t in zip(cn, range(51))]
        for k, c in (("s", cs), ("p", cp), ("n", cn)):
            curves[k].append(torch.tensor(c).float() / n)
    s = torch.stack(curves["s"]).mean(0) * 100.0
    p = torch.stack(curves["p"]).mean(0) * 100.0
    nn = torch.stack(curves["n"]).mean(0) * 100.0
    return float(s.mean()), float(p[20]), float(nn[20])


@pytest.mark.parametrize("dataset", ["otb", "nfs", "uav", "lasot"])
@pytest.mark.parametrize("seed", [0, 1])
def test_pytracking_matches_rederivation(dataset, seed):
    seqs, res = _data(seed, dataset=dataset)
    r = evaluate(seqs, res, dataset)
    auc, prec, nprec = _pyt_reference(seqs, res, dataset)
    # pytracking holds curves in float32: equal to float32 rounding
    assert r.summary["auc"] * 100 == pytest.approx(auc, rel=1e-6)
    assert r.summary["prec"] * 100 == pytest.approx(prec, rel=1e-6)
    assert r.summary["norm_prec"] * 100 == pytest.approx(nprec, rel=1e-6)


def test_pytracking_hand_rules():
    gt = [[10, 10, 10, 10]] * 3
    seq = _seq("a", gt)
    # perfect tracker: every frame contributes ceil(20 * 1) / 21
    r = evaluate([seq], {"a": SequenceResult("a", [gt])}, "otb")
    assert r.summary["auc"] == pytest.approx(20 / 21, rel=1e-6)
    # NaN and negative sizes raise with the line
    with pytest.raises(DataError, match="f.txt:2"):
        evaluate([seq], {"a": SequenceResult("a", [[[1, 1, 1, 1], [np.nan, 1, 1, 1], [1, 1, 1, 1]]], sources=["f.txt"])}, "otb")
    with pytest.raises(DataError, match="f.txt:3"):
        evaluate([seq], {"a": SequenceResult("a", [[[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, -1, 1]]], sources=["f.txt"])}, "otb")
    # shorter predictions: zero padding (warned) for otb, an error for lasot
    with pytest.warns(UserWarning, match="zero-padded"):
        r = evaluate([seq], {"a": SequenceResult("a", [gt[:2]])}, "otb")
    assert r.per_sequence.loc["a", "auc"] == pytest.approx(2 / 3 * 20 / 21, rel=1e-6)
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


# --------------------------------------------------------------------- TrackingNet devkit
def _tn_reference(seqs, results):
    X = np.linspace(0, 1, 21)
    acc = {"s": np.zeros(21), "p": np.zeros(21), "n": np.zeros(21)}
    for seq in seqs:
        a_all = np.round(seq.boxes)
        p_all = results[seq.name].runs[0]
        n = len(a_all)
        iou, dist, nd = [], [], []
        for i in range(n):
            a = a_all[i]
            s = a if i == 0 else (np.round(p_all[i]) if i < len(p_all) else np.full(4, np.nan))
            if np.isnan(s).any():
                iou.append(np.nan), dist.append(np.nan), nd.append(np.nan)
                continue
            iw = max(round(min(a[0] + a[2] - 1, s[0] + s[2] - 1) - max(a[0], s[0]) + 1), 0)
            ih = max(round(min(a[1] + a[3] - 1, s[1] + s[3] - 1) - max(a[1], s[1]) + 1), 0)
            iou.append(iw * ih / (a[2] * a[3] + s[2] * s[3] - iw * ih))
            dx = (a[0] + (a[2] + 1) / 2) - (s[0] + (s[2] + 1) / 2)
            dy = (a[1] + (a[3] + 1) / 2) - (s[1] + (s[3] + 1) / 2)
            dist.append(math.sqrt(dx * dx + dy * dy))
            nd.append(math.sqrt((dx / a[2]) ** 2 + (dy / a[3]) ** 2))
        acc["s"] += [sum(v > t for v in iou) / n for t in np.linspace(0, 1, 21)]
        acc["p"] += [sum(v <= t for v in dist) / n for t in np.linspace(0, 50, 21)]
        acc["n"] += [sum(v <= t for v in nd) / n for t in np.linspace(0, 0.5, 21)]
    trap = lambda y: float(((X[1:] - X[:-1]) * (y[1:] + y[:-1]) / 2).sum())
    return [trap(acc[k] / len(seqs)) for k in "spn"]


@pytest.mark.parametrize("seed", [0, 1])
def test_trackingnet_matches_rederivation(seed):
    seqs, res = _data(seed, n_seq=4)
    rng = np.random.default_rng(seed)
    first = res[seqs[0].name]
    first.runs[0] = first.runs[0][:-5] + rng.normal(0, 0.5, (len(first.runs[0]) - 5, 4))  # short + fractional
    r = evaluate(seqs, res, "trackingnet")
    ref = _tn_reference(seqs, res)
    for k, v in zip(("auc", "prec", "norm_prec"), ref):
        assert abs(r.summary[k] - v) < 1e-9


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
