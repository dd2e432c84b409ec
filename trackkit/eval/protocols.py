"""Scoring protocols, each reproducing one reference toolkit's numbers exactly.

The toolkits disagree under the same metric names (IoU with or without the +1 pixel
convention, which frames count, how curves are averaged, AUC as a mean of 21 points or a
trapezoid area). Each protocol here names its convention and follows its toolkit line by line,
vectorized with numpy:

==================  =========================================================================
``got10k``          got10k toolkit ``ExperimentGOT10k.report`` (val): continuous IoU with the
                    image bound, frame 0 dropped, ``cover > 0``, repetitions pooled, AO and
                    SR frame-weighted over the whole split; fps = mean(1/t).
``otb`` ``uav``     pytracking ``extract_results`` + ``plot_results`` (merge_results=True):
``nfs`` ``lasot``   +1-pixel IoU, frame 0 = gt, gt valid when x, y, w, h > 0, 21 overlap
                    thresholds (torch.arange, not round decimals), curves per sequence then
                    averaged in float32, AUC = mean of the 21 points; pytracking's frame
                    ranges (Tiger1 from frame 6) and result names (``uav_<seq>``).
``lasot-official``  LaSOT MATLAB toolkit: absent frames dropped from the numerator, full
                    length denominator, invalid predictions replaced by the previous box,
                    all-zero curves dropped from the average.
``trackingnet``     TrackingNet devkit ``metrics.py``: boxes rounded, +1 convention, 21
                    thresholds each (success IoU >= t), scores are ``np.trapz`` areas over x in
                    [0, 1].
==================  =========================================================================

Every protocol gives a per-sequence row, per-sequence curves, the summary (fractions in
[0, 1]; pytracking and the devkit print percent), and additive per-run ``(numerator,
denominator)`` parts that the bootstrap and the per-attribute tables re-aggregate.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from trackkit.data.sequence import Sequence
from trackkit.errors import ConfigError, DataError
from trackkit.eval.results import SequenceResult, pytracking_name

__all__ = ["PROTOCOLS", "PROTOCOL_VARIANTS", "VALID_RULES", "get_protocol", "Protocol", "SeqScore", "matlab_colon",
           "pytracking_thresholds"]

_EPS = np.finfo(float).eps  # got10k union eps == MATLAB eps


@dataclass
class SeqScore:
    """One sequence scored under one protocol."""

    name: str
    row: dict
    curves: dict[str, np.ndarray]          # per-sequence curves, runs merged
    parts: dict[str, np.ndarray]           # metric -> (R, 2) per-run numerator, denominator
    extra: dict = field(default_factory=dict)


class Protocol:
    name: str = ""
    metrics: tuple[str, ...] = ()
    allow_nan_results: bool = False
    curve_x: dict[str, np.ndarray] = {}
    # the split a dataset root is scored on when none is asked for (None: the reader's default)
    default_split: str | None = None

    def result_names(self, seq: Sequence) -> tuple[str, ...]:
        """The result names this protocol's toolkit gives ``seq``, trackkit's own first."""
        return (seq.name,)

    def score_sequence(self, seq: Sequence, res: SequenceResult) -> SeqScore:  # pragma: no cover
        raise NotImplementedError

    def summarize(self, scores: list[SeqScore]) -> tuple[dict, dict[str, np.ndarray]]:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


# ----------------------------------------------------------------------------- helpers
def _full_gt(seq: Sequence) -> np.ndarray:
    if not seq.fully_annotated:
        raise DataError(None, f"sequence {seq.name}: only {len(seq.boxes)} of {len(seq)} frames are "
                        "annotated (a test split?): it cannot be scored locally")
    return seq.boxes


def _first_bad_line(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0]) + 1


def _count_greater(values: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """``(values[:, None] > thr).sum(0)`` without the N x T matrix (exact: sort + search)."""
    s = np.sort(values[~np.isnan(values)])  # NaN is never greater
    return len(s) - np.searchsorted(s, thr, side="right")


def _count_geq(values: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """``(values[:, None] >= thr).sum(0)``; NaN never counts."""
    s = np.sort(values[~np.isnan(values)])
    return len(s) - np.searchsorted(s, thr, side="left")


def _count_leq(values: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """``(values[:, None] <= thr).sum(0)``; NaN never counts (sorted last)."""
    s = np.sort(values)
    return np.searchsorted(s, thr, side="right")


def _times_parts(res: SequenceResult, n_frames_per_run: list[int]) -> np.ndarray | None:
    """End-to-end speed parts per run: (frames with a valid time, their total time)."""
    if res.times is None:
        return None
    out = []
    for r in range(len(res.runs)):
        t = res.times[:, min(r, res.times.shape[1] - 1)]
        ok = np.isfinite(t) & (t > 0)
        out.append((float(ok.sum()), float(t[ok].sum())))
    return np.asarray(out)


def _e2e_fps(scores: list[SeqScore]) -> float | None:
    parts = [s.parts["fps"] for s in scores if "fps" in s.parts]
    if not parts or len(parts) != len(scores):
        return None
    p = np.concatenate(parts)
    return float(p[:, 0].sum() / p[:, 1].sum()) if p[:, 1].sum() > 0 else None


def matlab_colon(a: float, d: float, b: float) -> np.ndarray:
    """MATLAB's ``a:d:b``: the first half is ``a + k*d``, the second half ``b' - k*d``
    counted from the end (so ``0:0.05:1`` holds exactly 0.75, unlike ``np.arange``)."""
    n = int(np.floor((b - a) / d + 2.0 * _EPS * max(abs(a), abs(b))))
    b2 = a + n * d
    v = np.empty(n + 1)
    k = np.arange(n // 2 + 1)
    v[k] = a + k * d
    v[n - k] = b2 - k * d
    if n % 2 == 0:
        v[n // 2] = (a + b2) / 2
    return v


# ----------------------------------------------------------------------------- got10k
def got10k_iou(pred: np.ndarray, gt: np.ndarray, bound=None) -> np.ndarray:
    """The got10k toolkit's ``rect_iou``: continuous, both boxes clipped to ``bound=(W, H)``,
    ``union + eps``, clipped to [0, 1] (same operation order, so the same bits)."""
    p = np.array(pred, dtype=np.float64)
    g = np.array(gt, dtype=np.float64)
    if bound is not None:
        for r in (p, g):
            r[:, 0] = np.clip(r[:, 0], 0, bound[0])
            r[:, 1] = np.clip(r[:, 1], 0, bound[1])
            r[:, 2] = np.clip(r[:, 2], 0, bound[0] - r[:, 0])
            r[:, 3] = np.clip(r[:, 3], 0, bound[1] - r[:, 1])
    x1 = np.maximum(p[:, 0], g[:, 0])
    y1 = np.maximum(p[:, 1], g[:, 1])
    x2 = np.minimum(p[:, 0] + p[:, 2], g[:, 0] + g[:, 2])
    y2 = np.minimum(p[:, 1] + p[:, 3], g[:, 1] + g[:, 3])
    inter = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    union = p[:, 2] * p[:, 3] + g[:, 2] * g[:, 3] - inter
    return np.clip(inter / (union + _EPS), 0.0, 1.0)


class GOT10kProtocol(Protocol):
    """got10k toolkit rules (``experiments/got10k.py``, ``utils/metrics.py``).

    Args:
        use_bound: clip both boxes to the sequence resolution (``attributes['resolution']``,
            from meta_info.ini) as the val report does; sequences without a resolution are
            scored unbounded.
    """

    name = "got10k"
    metrics = ("ao", "sr50", "sr75", "fps")

    def __init__(self, use_bound: bool = True):
        self.use_bound = use_bound
        self.curve_x = {"success": np.linspace(0, 1, 101)}

    def score_sequence(self, seq: Sequence, res: SequenceResult) -> SeqScore:
        gt = _full_gt(seq)
        n = len(gt)
        keep = np.ones(n - 1, dtype=bool)
        if "cover" in seq.labels:
            cover = np.asarray(seq.labels["cover"]).reshape(-1)
            if len(cover) != n:
                raise DataError(None, f"sequence {seq.name}: {len(cover)} cover labels for {n} frames")
            keep = cover[1:] > 0
        bound = seq.resolution if self.use_bound else None
        ious, parts = [], []
        for r, run in enumerate(res.runs):
            if len(run) != n:  # the toolkit asserts equal shapes
                raise DataError(res.source(r), f"{len(run)} lines but sequence {seq.name} has {n} frames",
                                min(len(run), n) + 1)
            bad = ~np.isfinite(run).all(axis=1)
            if bad.any():
                raise DataError(res.source(r), "NaN or infinite value in a got10k result", _first_bad_line(bad))
            iou = got10k_iou(run[1:], gt[1:], bound)[keep]
            ious.append(iou)
            parts.append([(iou.sum(), len(iou)), ((iou > 0.5).sum(), len(iou)), ((iou > 0.75).sum(), len(iou))])
        all_iou = np.concatenate(ious)
        times = np.empty(0)
        fps_parts = None
        if res.times is not None:
            t = res.times[~np.isnan(res.times)]  # toolkit order: row-major over (frame, repetition)
            times = t[t > 0]
            fps_parts = []
            for r in range(res.times.shape[1]):
                tr = res.times[:, r]
                tr = tr[~np.isnan(tr) & (tr > 0)]
                fps_parts.append(((1.0 / tr).sum(), len(tr)))
        p = np.asarray(parts, dtype=np.float64)  # (R, 3, 2)
        out_parts = {"ao": p[:, 0], "sr50": p[:, 1], "sr75": p[:, 2]}
        if fps_parts:
            out_parts["fps"] = np.asarray(fps_parts, dtype=np.float64)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            row = {"ao": float(np.mean(all_iou)) if len(all_iou) else float("nan"),
                   "sr50": float(np.mean(all_iou > 0.5)) if len(all_iou) else float("nan"),
                   "sr75": float(np.mean(all_iou > 0.75)) if len(all_iou) else float("nan"),
                   "fps": float(np.mean(1.0 / times)) if len(times) else float("nan"),
                   "length": n - 1, "frames_scored": int(keep.sum()), "runs": len(res.runs)}
        x = self.curve_x["success"]
        curve = _count_greater(all_iou, x) / max(len(all_iou), 1)
        return SeqScore(seq.name, row, {"success": curve}, out_parts, {"ious": all_iou, "times": times})

    def summarize(self, scores):
        ious = np.concatenate([s.extra["ious"] for s in scores])
        times = np.concatenate([s.extra["times"] for s in scores])
        summary = {"ao": float(np.mean(ious)), "sr50": float(np.mean(ious > 0.5)),
                   "sr75": float(np.mean(ious > 0.75)),
                   # mean of per-frame fps, the toolkit's convention (it writes -1 when no times)
                   "fps": float(np.mean(1.0 / times)) if len(times) else None}
        x = self.curve_x["success"]
        return summary, {"success": _count_greater(ious, x) / len(ious)}


# ----------------------------------------------------------------------------- pytracking
def pytracking_thresholds() -> dict[str, np.ndarray]:
    """pytracking's ``extract_results`` thresholds, made by the same torch calls so the bits
    agree: ``torch.arange`` (start + i * step) does not give the round decimals: index 13 is
    0.6500000000000001 and index 15 0.7500000000000001, so an IoU of 0.6500000000000001
    fails index 13 there, and the curve's x values are not 0.65 / 0.75."""
    import torch

    return {"success": torch.arange(0.0, 1.0 + 0.05, 0.05, dtype=torch.float64).numpy(),
            "precision": torch.arange(0, 51, dtype=torch.float64).numpy(),
            "norm_precision": (torch.arange(0, 51, dtype=torch.float64) / 100.0).numpy()}


# pytracking at this commit is what the otb / uav / nfs / lasot protocols follow.
PYTRACKING_COMMIT = "7eb9e74bd3d40e29dbcec444902237da13de247b"
# Ground-truth validity rules of ``calc_seq_err_robust``, by name.
VALID_RULES = {
    "xywh": "all four gt values > 0 (pytracking since commit da789d1, 2022-08-28)",
    "wh": "gt w and h > 0 (pytracking before commit da789d1; OSTrack's copy of the analysis)",
}
# ``initOmit`` of pytracking's sequence tables (evaluation/otbdataset.py): the first frames of
# the annotation file that pytracking neither tracks nor scores, so its result file is that
# much shorter. No UAV123 or NfS entry has one.
PYTRACKING_INIT_OMIT = {"otb": {"Tiger1": 5}}


class PytrackingProtocol(Protocol):
    """pytracking's ``extract_results.py`` / ``plot_results.py`` for one dataset, as of
    :data:`PYTRACKING_COMMIT`.

    Per-dataset rules (``calc_seq_err_robust``): a frame is valid when all four gt values
    are > 0 (``valid_rule="xywh"``, the current rule; ``"wh"`` is the pre-2022-08 rule, see
    :data:`VALID_RULES`) and, for ``lasot``, the target is visible (``full_occlusion == 0``
    and ``out_of_view == 0``); invalid frames get overlap -1 (fail success), centre error
    inf (fail precision; ``uav``: -1, pass) and normalized error -1 (pass; ``lasot``
    invisible: inf). NaN predictions or negative sizes raise; zero-size predictions take the
    previous box. Multiple runs are averaged per sequence (``merge_results=True``).

    Frame ranges: the sequence is expected to carry its whole annotation file (as trackkit's
    readers give it); pytracking's ``initOmit`` (:data:`PYTRACKING_INIT_OMIT`: Tiger1 starts
    at frame 6) is applied here, so a pytracking result file (349 lines for Tiger1) lines up
    with the frames it was tracked on. A result holding one line per annotated frame of such
    a sequence raises (it was tracked from another first frame).

    Lengths: pytracking itself defines what happens to a result of another length, and this
    protocol does exactly that, without a warning: a longer result is cut to the gt length;
    a shorter one is padded with zero boxes at the end (which fail every threshold) for
    ``otb``, ``uav`` and ``nfs``, and raises for ``lasot``.

    Result names: pytracking writes ``uav_<seq>.txt``, ``nfs_<seq>.txt``, ``Jogging_1.txt``,
    ``Human4_2.txt``; :meth:`result_names` accepts those and trackkit's own names.

    Args:
        dataset: ``otb``, ``uav``, ``nfs`` or ``lasot``.
        exclude_invalid_frames: pytracking's flag; False (its default) divides by the full
            sequence length.
        valid_rule: a key of :data:`VALID_RULES`; default ``"xywh"``, pytracking's current rule.
    """

    metrics = ("auc", "prec", "norm_prec", "fps")

    def __init__(self, dataset: str, exclude_invalid_frames: bool = False, valid_rule: str = "xywh"):
        if dataset not in ("otb", "uav", "nfs", "lasot"):
            raise ConfigError(f"pytracking protocol dataset {dataset!r}: expected otb, uav, nfs or lasot")
        if valid_rule not in VALID_RULES:
            raise ConfigError(f"valid_rule {valid_rule!r}: expected one of {', '.join(VALID_RULES)}")
        self.name = dataset if valid_rule == "xywh" else f"{dataset}-{valid_rule}"
        self.dataset = dataset
        self.default_split = "test" if dataset == "lasot" else None
        self.exclude_invalid_frames = exclude_invalid_frames
        self.valid_rule = valid_rule
        self.curve_x = pytracking_thresholds()

    def result_names(self, seq: Sequence) -> tuple[str, ...]:
        return tuple(dict.fromkeys((seq.name, pytracking_name(self.dataset, seq.name))))

    def _visible(self, seq: Sequence, n: int) -> np.ndarray | None:
        if self.dataset != "lasot":
            return None
        vis = np.ones(n, dtype=bool)
        for key in ("full_occlusion", "out_of_view"):
            if key in seq.labels:
                vis &= np.asarray(seq.labels[key])[:n] == 0
        return vis

    def errors(self, pred: np.ndarray, gt: np.ndarray, visible: np.ndarray | None, source=None, seq_name=""):
        """``calc_seq_err_robust``: (overlap, centre error, normalized centre error, valid)."""
        pred = np.array(pred, dtype=np.float64)
        # whole-array checks first: the per-row masks are only needed on the rare bad file
        if np.isnan(pred).any() or (pred[:, 2:] < 0).any():
            bad = np.isnan(pred).any(axis=1) | (pred[:, 2:] < 0).any(axis=1)
            raise DataError(source, "NaN or negative size in a prediction (pytracking raises)",
                            _first_bad_line(bad))
        gt_has_nan = bool(np.isnan(gt).any())
        if gt_has_nan and self.dataset != "uav":
            raise DataError(None, f"sequence {seq_name}: NaN in the annotation (only uav allows it)")
        n, m = len(gt), len(pred)
        if (pred[1:, 2:] == 0).any():
            zero = (pred[:, 2:] == 0).any(axis=1)
            zero[0] = False
            if zero[n:].any():  # pytracking indexes the gt row of every zero-size prediction
                raise DataError(source, f"zero-size prediction past the {n} frames of sequence {seq_name} "
                                "(pytracking fails with an index error)", n + _first_bad_line(zero[n:]))
            # sequential "take the previous box" == forward fill from the last kept row; a
            # zero-size prediction on a NaN gt row is kept
            replace = zero
            if gt_has_nan:
                replace = zero & ~np.r_[np.isnan(gt[: min(n, m)]).any(axis=1), np.zeros(max(m - n, 0), dtype=bool)]
            pred = pred[np.maximum.accumulate(np.where(replace, 0, np.arange(m)))]
        if m > n:
            pred = pred[:n]
        elif m < n:
            if self.dataset == "lasot":
                raise DataError(source, f"{m} lines but sequence {seq_name} has {n} frames "
                                "(pytracking raises for lasot)", m + 1)
            pred = np.concatenate([pred, np.zeros((n - m, 4))])  # pytracking's own zero padding
        pred[0] = gt[0]
        valid = (gt > 0).all(axis=1) if self.valid_rule == "xywh" else (gt[:, 2:] > 0).all(axis=1)
        if visible is not None:
            valid &= visible
        with np.errstate(divide="ignore", invalid="ignore"):
            pc = pred[:, :2] + 0.5 * (pred[:, 2:] - 1.0)
            ac = gt[:, :2] + 0.5 * (gt[:, 2:] - 1.0)
            d = pc - ac
            err_center = np.sqrt(d[:, 0] ** 2 + d[:, 1] ** 2)
            dn = pc / gt[:, 2:] - ac / gt[:, 2:]
            err_norm = np.sqrt(dn[:, 0] ** 2 + dn[:, 1] ** 2)
            tl = np.maximum(pred[:, :2], gt[:, :2])
            br = np.minimum(pred[:, :2] + pred[:, 2:] - 1.0, gt[:, :2] + gt[:, 2:] - 1.0)
            sz = np.maximum(br - tl + 1.0, 0)
            inter = sz[:, 0] * sz[:, 1]
            union = pred[:, 2] * pred[:, 3] + gt[:, 2] * gt[:, 3] - inter
            overlap = inter / union
        err_center[~valid] = -1.0 if self.dataset == "uav" else np.inf
        err_norm[~valid] = -1.0
        overlap[~valid] = -1.0
        if self.dataset == "lasot":
            err_norm[~visible] = np.inf
            err_center[~visible] = np.inf
        if np.isnan(overlap).any():
            raise DataError(source, "NaN overlap (pytracking raises 'Nans in calculated overlap')",
                            _first_bad_line(np.isnan(overlap)))
        return overlap, err_center, err_norm, valid

    def score_sequence(self, seq: Sequence, res: SequenceResult) -> SeqScore:
        import torch

        gt = _full_gt(seq)
        omit = PYTRACKING_INIT_OMIT.get(self.dataset, {}).get(seq.name, 0)
        visible = self._visible(seq, len(gt))
        gt = gt[omit:]
        visible = None if visible is None else visible[omit:]
        n = len(gt)
        curves = {k: [] for k in self.curve_x}
        aos, parts = [], []
        for r, run in enumerate(res.runs):
            if omit and len(run) == n + omit:
                raise DataError(res.source(r), f"{len(run)} lines, one per annotated frame of {seq.name}, but "
                                f"pytracking's table starts {seq.name} at frame {omit + 1} (initOmit {omit}): "
                                f"its results hold {n} lines, from frame {omit + 1} on")
            ov, ce, cn, valid = self.errors(run, gt, visible, res.source(r), seq.name)
            seq_len = int(valid.sum()) if self.exclude_invalid_frames else n
            if seq_len <= 0:
                raise DataError(None, f"sequence {seq.name}: no valid frame (pytracking: 'Seq length zero')")
            # `.sum(0).float() / seq_length` in torch float32, as pytracking does
            c_s = (torch.from_numpy(_count_greater(ov, self.curve_x["success"])).float() / seq_len).numpy()
            c_p = (torch.from_numpy(_count_leq(ce, self.curve_x["precision"])).float() / seq_len).numpy()
            c_n = (torch.from_numpy(_count_leq(cn, self.curve_x["norm_precision"])).float() / seq_len).numpy()
            curves["success"].append(c_s)
            curves["precision"].append(c_p)
            curves["norm_precision"].append(c_n)
            aos.append(ov[valid].mean() if valid.any() else np.nan)
            parts.append([(float(c_s.astype(np.float64).mean()), 1.0), (float(c_p[20]), 1.0), (float(c_n[20]), 1.0)])
        # merge_multiple_runs: (S, trackers, T).mean(1) in float32
        merged = {k: torch.from_numpy(np.stack(v)[None]).mean(1)[0].numpy() for k, v in curves.items()}
        p = np.asarray(parts)
        out_parts = {"auc": p[:, 0], "prec": p[:, 1], "norm_prec": p[:, 2]}
        tp = _times_parts(res, [n] * len(res.runs))
        if tp is not None:
            out_parts["fps"] = tp
        row = {"auc": float(merged["success"].astype(np.float64).mean()), "prec": float(merged["precision"][20]),
               "norm_prec": float(merged["norm_precision"][20]), "ao": float(np.mean(aos)),
               "fps": float(tp[:, 0].sum() / tp[:, 1].sum()) if tp is not None and tp[:, 1].sum() > 0 else float("nan"),
               "length": n, "runs": len(res.runs)}
        return SeqScore(seq.name, row, merged, out_parts)

    def summarize(self, scores):
        import torch

        out = {}
        curves = {}
        for key, metric in (("success", "auc"), ("precision", "prec"), ("norm_precision", "norm_prec")):
            # (S, 1, T) float32 exactly as pytracking holds ave_success_rate_plot_*
            t = torch.from_numpy(np.stack([s.curves[key] for s in scores]).astype(np.float32))[:, None, :]
            curve = t.mean(0) * 100.0
            score = curve.mean(-1) if metric == "auc" else curve[:, 20]
            out[metric] = float(score[0]) / 100.0
            curves[key] = curve[0].numpy().astype(np.float64) / 100.0
        out["fps"] = _e2e_fps(scores)
        return out, curves


# ----------------------------------------------------------------------------- LaSOT MATLAB
class LaSOTOfficialProtocol(Protocol):
    """HengLan/LaSOT_Evaluation_Toolkit (``calc_seq_err_robust.m``, ``eval_tracker.m``,
    ``plot_draw_save.m``).

    Absent frames (``full_occlusion`` or ``out_of_view``, or an ``absence`` label) are removed
    before scoring but the denominator stays the full length (+ eps); gt rows with any value
    <= 0 get overlap -1 and centre error -1 (they pass precision); predictions that are NaN
    or have w, h <= 0 take the previous row (unless the gt row has NaN); predictions longer
    than the gt are truncated, shorter ones raise (MATLAB index error). Sequences whose whole
    curve is 0 are dropped from the average, separately for each metric. Several runs are
    averaged per sequence (an extension: the kit scores one).
    """

    name = "lasot-official"
    metrics = ("auc", "prec", "norm_prec", "fps")
    allow_nan_results = True
    default_split = "test"  # the kit's testing_set.txt

    def __init__(self):
        err = np.arange(51, dtype=np.float64)
        self.curve_x = {"success": matlab_colon(0.0, 0.05, 1.0), "precision": err, "norm_precision": err / 100}

    @staticmethod
    def _absent(seq: Sequence, n: int) -> np.ndarray:
        absent = np.zeros(n, dtype=bool)
        for key in ("full_occlusion", "out_of_view", "absence"):
            if key in seq.labels:
                absent |= np.asarray(seq.labels[key])[:n] == 1
        return absent

    def errors(self, results, anno, absent, source=None, seq_name=""):
        """``calc_seq_err_robust.m`` with ``norm_dst`` false and true: (overlap, err, err_norm)."""
        n = len(anno)
        if len(results) < n:
            raise DataError(source, f"{len(results)} lines but sequence {seq_name} has {n} frames "
                            "(the MATLAB kit fails)", len(results) + 1)
        res = np.array(results[:n], dtype=np.float64)
        invalid = np.isnan(res).any(axis=1) | (res[:, 2] <= 0) | (res[:, 3] <= 0)
        # MATLAB `if (scalar & ~isnan(r_anno))` is true only when every gt value is a number
        replace = invalid & ~np.isnan(anno).any(axis=1)
        replace[0] = False
        if replace.any():
            res = res[np.maximum.accumulate(np.where(replace, 0, np.arange(n)))]
        rect = res.copy()
        rect[0] = anno[0]
        keep = ~absent
        rect, an = rect[keep], anno[keep]
        with np.errstate(divide="ignore", invalid="ignore"):
            cg = np.stack([an[:, 0] + (an[:, 2] - 1) / 2, an[:, 1] + (an[:, 3] - 1) / 2], axis=1)
            c = np.stack([rect[:, 0] + (rect[:, 2] - 1) / 2, rect[:, 1] + (rect[:, 3] - 1) / 2], axis=1)
            d = c - cg
            err = np.sqrt(d[:, 0] ** 2 + d[:, 1] ** 2)
            dn = c / an[:, 2:] - cg / an[:, 2:]
            errn = np.sqrt(dn[:, 0] ** 2 + dn[:, 1] ** 2)
            idx = (an > 0).sum(axis=1) == 4
            A, B = rect[idx], an[idx]
            # calc_rect_int.m; MATLAB min/max ignore NaN -> fmin/fmax
            rA, tA = A[:, 0] + A[:, 2] - 1, A[:, 1] + A[:, 3] - 1
            rB, tB = B[:, 0] + B[:, 2] - 1, B[:, 1] + B[:, 3] - 1
            iw = np.fmax(0, np.fmin(rA, rB) - np.fmax(A[:, 0], B[:, 0]) + 1)
            ih = np.fmax(0, np.fmin(tA, tB) - np.fmax(A[:, 1], B[:, 1]) + 1)
            tmp = iw * ih
            ov = tmp / (A[:, 2] * A[:, 3] + B[:, 2] * B[:, 3] - tmp)
        overlap = -np.ones(len(idx))
        overlap[idx] = ov
        err[~idx] = -1
        errn[~idx] = -1
        return overlap, err, errn

    def score_sequence(self, seq: Sequence, res: SequenceResult) -> SeqScore:
        anno = _full_gt(seq)
        n = len(anno)
        absent = self._absent(seq, n)
        den = n + _EPS
        curves = {k: [] for k in self.curve_x}
        parts = []
        for r, run in enumerate(res.runs):
            ov, err, errn = self.errors(run, anno, absent, res.source(r), seq.name)
            cs, cp, cn = _append_curves(curves, self.curve_x, ov, err, errn, den)
            parts.append([(cs.mean(), float(cs.sum() > _EPS)), (cp[20], float(cp.sum() > _EPS)),
                          (cn[20], float(cn.sum() > _EPS))])
        merged = {k: np.mean(np.stack(v), axis=0) for k, v in curves.items()}
        p = np.asarray(parts)
        out_parts = {"auc": p[:, 0], "prec": p[:, 1], "norm_prec": p[:, 2]}
        tp = _times_parts(res, [n] * len(res.runs))
        if tp is not None:
            out_parts["fps"] = tp
        row = {"auc": float(merged["success"].mean()), "prec": float(merged["precision"][20]),
               "norm_prec": float(merged["norm_precision"][20]),
               "fps": float(tp[:, 0].sum() / tp[:, 1].sum()) if tp is not None and tp[:, 1].sum() > 0 else float("nan"),
               "length": n, "absent": int(absent.sum()), "runs": len(res.runs)}
        return SeqScore(seq.name, row, merged, out_parts)

    def summarize(self, scores):
        out, curves = {}, {}
        for key, metric in (("success", "auc"), ("precision", "prec"), ("norm_precision", "norm_prec")):
            aa = np.stack([s.curves[key] for s in scores])
            aa = aa[aa.sum(axis=1) > _EPS]
            bb = aa.mean(axis=0) if len(aa) else np.zeros(aa.shape[1])
            out[metric] = float(bb.mean()) if metric == "auc" else float(bb[20])
            curves[key] = bb
        out["fps"] = _e2e_fps(scores)
        return out, curves


# ----------------------------------------------------------------------------- TrackingNet
def _trapz(y: np.ndarray, x: np.ndarray) -> float:
    d = np.diff(x)
    return float((d * (y[1:] + y[:-1]) / 2.0).sum())


class TrackingNetProtocol(Protocol):
    """SilvioGiancola/TrackingNet-devkit ``metrics.py`` (said to be the server's code).

    Boxes are rounded (``np.round``, half to even), frame 0 set to the gt, +1 pixel
    convention for the intersection, centres ``x + (w + 1) / 2``; thresholds
    ``linspace(0, 1, 21)``, ``linspace(0, 50, 21)`` px, ``linspace(0, 0.5, 21)``; success
    counts IoU ``>=`` threshold (so a frame with IoU 0 passes the 0 threshold), precision
    and normalized precision ``<=``; a missing
    or NaN prediction line fails every threshold (the devkit's pandas alignment gives NaN);
    per-sequence curves are averaged and each score is ``np.trapz`` over x in [0, 1].
    """

    name = "trackingnet"
    metrics = ("auc", "prec", "norm_prec", "fps")
    allow_nan_results = True

    def __init__(self):
        self.curve_x = {"success": np.linspace(0, 1, 21), "precision": np.linspace(0, 50, 21),
                        "norm_precision": np.linspace(0, 0.5, 21)}

    @staticmethod
    def errors(pred: np.ndarray, gt: np.ndarray):
        n = len(gt)
        s = np.full((n, 4), np.nan)
        m = min(n, len(pred))
        s[:m] = np.round(np.asarray(pred, dtype=np.float64)[:m])
        a = np.round(gt)
        s[0] = a[0]
        ax2, ay2 = a[:, 0] + a[:, 2] - 1.0, a[:, 1] + a[:, 3] - 1.0
        sx2, sy2 = s[:, 0] + s[:, 2] - 1.0, s[:, 1] + s[:, 3] - 1.0
        acx, acy = a[:, 0] + (a[:, 2] + 1.0) / 2.0, a[:, 1] + (a[:, 3] + 1.0) / 2.0
        scx, scy = s[:, 0] + (s[:, 2] + 1.0) / 2.0, s[:, 1] + (s[:, 3] + 1.0) / 2.0
        with np.errstate(divide="ignore", invalid="ignore"):
            # pandas row max/min skip NaN -> fmax/fmin
            iw = np.maximum(np.round(np.fmin(ax2, sx2) - np.fmax(a[:, 0], s[:, 0]) + 1), 0)
            ih = np.maximum(np.round(np.fmin(ay2, sy2) - np.fmax(a[:, 1], s[:, 1]) + 1), 0)
            inter = iw * ih
            iou = inter / (a[:, 3] * a[:, 2] + s[:, 3] * s[:, 2] - inter)
            dx, dy = acx - scx, acy - scy
            dist = np.sqrt(dx * dx + dy * dy)
            ndist = np.sqrt(dx / a[:, 2] * dx / a[:, 2] + dy / a[:, 3] * dy / a[:, 3])
        return iou, dist, ndist

    def score_sequence(self, seq: Sequence, res: SequenceResult) -> SeqScore:
        gt = _full_gt(seq)
        n = len(gt)
        curves = {k: [] for k in self.curve_x}
        parts = []
        X = self.curve_x["success"]
        for run in res.runs:
            iou, dist, ndist = self.errors(run, gt)
            cs, cp, cn = _append_curves(curves, self.curve_x, iou, dist, ndist, n, success_geq=True)
            parts.append([(_trapz(cs, X), 1.0), (_trapz(cp, X), 1.0), (_trapz(cn, X), 1.0)])
        merged = {k: np.mean(np.stack(v), axis=0) for k, v in curves.items()}
        p = np.asarray(parts)
        out_parts = {"auc": p[:, 0], "prec": p[:, 1], "norm_prec": p[:, 2]}
        tp = _times_parts(res, [n] * len(res.runs))
        if tp is not None:
            out_parts["fps"] = tp
        row = {"auc": _trapz(merged["success"], X), "prec": _trapz(merged["precision"], X),
               "norm_prec": _trapz(merged["norm_precision"], X),
               "fps": float(tp[:, 0].sum() / tp[:, 1].sum()) if tp is not None and tp[:, 1].sum() > 0 else float("nan"),
               "length": n, "runs": len(res.runs)}
        return SeqScore(seq.name, row, merged, out_parts)

    def summarize(self, scores):
        X = self.curve_x["success"]
        out, curves = {}, {}
        for key, metric in (("success", "auc"), ("precision", "prec"), ("norm_precision", "norm_prec")):
            acc = np.zeros(len(X))
            for s in scores:  # the devkit's sequential += then / count
                acc += s.curves[key]
            curve = acc / len(scores)
            out[metric] = _trapz(curve, X)
            curves[key] = curve
        out["fps"] = _e2e_fps(scores)
        return out, curves


# ----------------------------------------------------------------------------- registry
PROTOCOLS = {
    "got10k": GOT10kProtocol,
    "otb": lambda **kw: PytrackingProtocol("otb", **kw),
    "uav": lambda **kw: PytrackingProtocol("uav", **kw),
    "nfs": lambda **kw: PytrackingProtocol("nfs", **kw),
    "lasot": lambda **kw: PytrackingProtocol("lasot", **kw),
    "lasot-official": LaSOTOfficialProtocol,
    "trackingnet": TrackingNetProtocol,
}
# Named variants, selectable wherever a protocol name is (API and CLI ``--protocol``), not
# scored by ``evaluate_all_protocols``: ``<dataset>-wh`` is pytracking before 2022-08 (and
# OSTrack's copy), where a gt frame is valid when only w, h > 0 (see VALID_RULES).
PROTOCOL_VARIANTS = {f"{d}-wh": (d, {"valid_rule": "wh"}) for d in ("otb", "uav", "nfs", "lasot")}


def get_protocol(name: str | Protocol, **kwargs) -> Protocol:
    """A protocol by name (see :data:`PROTOCOLS`), with its keyword options."""
    if isinstance(name, Protocol):
        return name
    if name in PROTOCOL_VARIANTS:
        name, preset = PROTOCOL_VARIANTS[name]
        kwargs = {**preset, **kwargs}
    try:
        factory = PROTOCOLS[name]
    except KeyError:
        raise ConfigError(f"unknown protocol {name!r}; choose one of "
                          f"{', '.join([*PROTOCOLS, *PROTOCOL_VARIANTS])}") from None
    return factory(**kwargs)


def _append_curves(curves: dict, curve_x: dict, overlap, err, nerr, den, success_geq: bool = False):
    """Success (strict >, or >= with ``success_geq``), precision and normalized precision
    (<=) curves of one run, each divided by ``den`` and appended to ``curves``; returns the
    three curves."""
    cs = (_count_geq if success_geq else _count_greater)(overlap, curve_x["success"]) / den
    cp = _count_leq(err, curve_x["precision"]) / den
    cn = _count_leq(nerr, curve_x["norm_precision"]) / den
    for k, v in (("success", cs), ("precision", cp), ("norm_precision", cn)):
        curves[k].append(v)
    return cs, cp, cn
