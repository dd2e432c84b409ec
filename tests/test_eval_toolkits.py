"""Every pytracking-family protocol and ``trackingnet`` against its toolkit's own code, on
independent cases: dataset folders and result files written here, in each toolkit's own
layout and file names (not by trackkit's writers), with awkward ground truth (x <= 0 or
y <= 0, zero sizes, NaN rows for UAV123, LaSOT occlusion / out-of-view flags, Tiger1's
``initOmit``, two-target OTB videos, Human4's empty first target), short and long result
files and two runs merged.

The references below transcribe the toolkits' code step by step (torch / pandas, the same
operations in the same order); they were read with the ``fetch`` tool from:

* visionml/pytracking @ 7eb9e74bd3d40e29dbcec444902237da13de247b (master, 2024-08-03):
  ``pytracking/analysis/extract_results.py`` (``calc_err_center``, ``calc_iou_overlap``,
  ``calc_seq_err_robust``, ``extract_results``), ``pytracking/analysis/plot_results.py``
  (``merge_multiple_runs``, ``get_auc_curve``, ``get_prec_curve``),
  ``pytracking/utils/load_text.py``, ``pytracking/evaluation/{otb,uav,nfs,lasot}dataset.py``
  (sequence names, annotation paths, ``initOmit``), ``pytracking/evaluation/running.py``
  (``<results_dir>/<seq.name>.txt``, ``np.savetxt(..., delimiter='\\t', fmt='%d')``) and
  ``pytracking/evaluation/tracker.py`` (``results_dir = <tracker>/<param>_<run_id:03d>``).
  The validity rule changed in commit da789d1 (2022-08-28) from ``w, h > 0`` to
  ``x, y, w, h > 0``; ``valid_rule="wh"`` below is the line before that commit.
* SilvioGiancola/TrackingNet-devkit @ 79783f27ba91db8570e89799668836cb22921cdf: ``metrics.py``
  (``evaluate``; read from folders instead of zip archives).
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dataset_fixtures import write_frames
from trackkit.cli import main
from trackkit.data.readers import load_dataset
from trackkit.errors import DataError
from trackkit.eval import evaluate, get_protocol, read_results, write_pytracking_results
from trackkit.eval.results import SequenceResult


# ============================================================== pytracking, transcribed
def pyt_load_text(path, delimiter):
    """``load_text_numpy``: try each delimiter with ``np.loadtxt``."""
    for d in delimiter if isinstance(delimiter, (tuple, list)) else (delimiter,):
        try:
            return np.loadtxt(path, delimiter=d, dtype=np.float64)
        except Exception:
            pass
    raise Exception(f"Could not read file {path}")


def pyt_calc_err_center(pred_bb, anno_bb, normalized=False):
    pred_center = pred_bb[:, :2] + 0.5 * (pred_bb[:, 2:] - 1.0)
    anno_center = anno_bb[:, :2] + 0.5 * (anno_bb[:, 2:] - 1.0)
    if normalized:
        pred_center = pred_center / anno_bb[:, 2:]
        anno_center = anno_center / anno_bb[:, 2:]
    return ((pred_center - anno_center) ** 2).sum(1).sqrt()


def pyt_calc_iou_overlap(pred_bb, anno_bb):
    tl = torch.max(pred_bb[:, :2], anno_bb[:, :2])
    br = torch.min(pred_bb[:, :2] + pred_bb[:, 2:] - 1.0, anno_bb[:, :2] + anno_bb[:, 2:] - 1.0)
    sz = (br - tl + 1.0).clamp(0)
    intersection = sz.prod(dim=1)
    union = pred_bb[:, 2:].prod(dim=1) + anno_bb[:, 2:].prod(dim=1) - intersection
    return intersection / union


def pyt_calc_seq_err_robust(pred_bb, anno_bb, dataset, target_visible=None, valid_rule="xywh"):
    pred_bb = pred_bb.clone()
    if torch.isnan(pred_bb).any() or (pred_bb[:, 2:] < 0.0).any():
        raise Exception("Error: Invalid results")
    if torch.isnan(anno_bb).any() and dataset != "uav":
        raise Exception("Warning: NaNs in annotation")
    if (pred_bb[:, 2:] == 0.0).any():
        for i in range(1, pred_bb.shape[0]):
            if (pred_bb[i, 2:] == 0.0).any() and not torch.isnan(anno_bb[i, :]).any():
                pred_bb[i, :] = pred_bb[i - 1, :]
    if pred_bb.shape[0] != anno_bb.shape[0]:
        if dataset == "lasot":
            if pred_bb.shape[0] > anno_bb.shape[0]:
                pred_bb = pred_bb[:anno_bb.shape[0], :]
            else:
                raise Exception("Mis-match in tracker prediction and GT lengths")
        else:
            if pred_bb.shape[0] > anno_bb.shape[0]:
                pred_bb = pred_bb[:anno_bb.shape[0], :]
            else:
                pad = torch.zeros((anno_bb.shape[0] - pred_bb.shape[0], 4)).type_as(pred_bb)
                pred_bb = torch.cat((pred_bb, pad), dim=0)
    pred_bb[0, :] = anno_bb[0, :]
    if valid_rule == "xywh":   # since da789d1
        valid = (anno_bb > 0.0).sum(1) == 4
    else:                      # before da789d1
        valid = (anno_bb[:, 2:] > 0.0).sum(1) == 2
    if target_visible is not None:
        target_visible = target_visible.bool()
        valid = valid & target_visible
    err_center = pyt_calc_err_center(pred_bb, anno_bb)
    err_center_normalized = pyt_calc_err_center(pred_bb, anno_bb, normalized=True)
    err_overlap = pyt_calc_iou_overlap(pred_bb, anno_bb)
    if dataset in ["uav"]:
        err_center[~valid] = -1.0
    else:
        err_center[~valid] = float("Inf")
    err_center_normalized[~valid] = -1.0
    err_overlap[~valid] = -1.0
    if dataset == "lasot":
        err_center_normalized[~target_visible] = float("Inf")
        err_center[~target_visible] = float("Inf")
    if torch.isnan(err_overlap).any():
        raise Exception("Nans in calculated overlap")
    return err_overlap, err_center, err_center_normalized, valid


def pyt_scores(sequences, run_dirs, valid_rule="xywh"):
    """``extract_results`` + pickle round trip + ``merge_multiple_runs`` + ``print_results``
    for one tracker whose runs are ``run_dirs``. ``sequences``: pytracking Sequence stand-ins
    ``(name, ground_truth_rect, dataset, target_visible or None)``. Returns AUC, precision,
    normalized precision in percent."""
    threshold_set_overlap = torch.arange(0.0, 1.0 + 0.05, 0.05, dtype=torch.float64)
    threshold_set_center = torch.arange(0, 51, dtype=torch.float64)
    threshold_set_center_norm = torch.arange(0, 51, dtype=torch.float64) / 100.0
    S, T = len(sequences), len(run_dirs)
    ov_plot = torch.zeros((S, T, threshold_set_overlap.numel()), dtype=torch.float32)
    ce_plot = torch.zeros((S, T, threshold_set_center.numel()), dtype=torch.float32)
    cn_plot = torch.zeros((S, T, threshold_set_center.numel()), dtype=torch.float32)
    for seq_id, (name, gt, dataset, visible) in enumerate(sequences):
        anno_bb = torch.tensor(gt)
        target_visible = torch.tensor(visible, dtype=torch.uint8) if visible is not None else None
        for trk_id, results_dir in enumerate(run_dirs):
            pred_bb = torch.tensor(pyt_load_text(str(Path(results_dir) / f"{name}.txt"), ("\t", ",")))
            err_overlap, err_center, err_center_normalized, valid_frame = pyt_calc_seq_err_robust(
                pred_bb, anno_bb, dataset, target_visible, valid_rule)
            seq_length = anno_bb.shape[0]  # exclude_invalid_frames=False
            ov_plot[seq_id, trk_id, :] = (err_overlap.view(-1, 1) > threshold_set_overlap.view(1, -1)).sum(0).float() / seq_length
            ce_plot[seq_id, trk_id, :] = (err_center.view(-1, 1) <= threshold_set_center.view(1, -1)).sum(0).float() / seq_length
            cn_plot[seq_id, trk_id, :] = (err_center_normalized.view(-1, 1) <= threshold_set_center_norm.view(1, -1)).sum(0).float() / seq_length
    out = []
    for plot in (ov_plot, ce_plot, cn_plot):
        merged = torch.tensor(plot.tolist())[:, torch.ones(T, dtype=torch.bool), :].mean(1)  # pickle, merge
        curve = torch.stack([merged], dim=1)
        curve = torch.tensor(curve.tolist()).mean(0) * 100.0  # get_auc_curve / get_prec_curve
        out.append(curve)
    return float(out[0].mean(-1)[0]), float(out[1][:, 20][0]), float(out[2][:, 20][0])


# ============================================================== independent cases
def _awkward_gt(rng, n, dataset):
    """Integer and 1/8 boxes with x <= 0 / y <= 0 rows, zero sizes, NaN rows (uav only)."""
    xy = rng.integers(-4, 60, (n, 2)).astype(float)
    wh = rng.integers(6, 40, (n, 2)) + rng.integers(0, 8, (n, 2)) / 8
    gt = np.concatenate([xy, wh], axis=1)
    gt[rng.random(n) < 0.1, 0] = 0.0
    gt[rng.random(n) < 0.1, 1] = -2.5
    gt[rng.random(n) < 0.08, 2] = 0.0
    gt[rng.random(n) < 0.08, 3] = 0.0
    if dataset == "uav":
        gt[rng.random(n) < 0.12] = np.nan
    gt[0] = [10, 12, 20, 16]
    return gt


def _prediction(rng, gt, n_lines):
    """A tracker's boxes near the gt (ints, as pytracking writes them), with zero sizes."""
    base = np.nan_to_num(gt, nan=5.0)
    base = np.concatenate([base, np.tile(base[-1:], (max(n_lines - len(base), 0), 1))])[:n_lines]
    pred = base + rng.normal(0, 3, base.shape) * np.r_[1, 1, 0.5, 0.5]
    pred[:, 2:] = np.maximum(pred[:, 2:], 0)
    pred[rng.random(n_lines) < 0.1, 2] = 0
    # no zero size (after %d truncation) past the gt: there pytracking fails with an index error
    pred[len(gt):, 2:] = np.maximum(pred[len(gt):, 2:], 1)
    pred[rng.random(n_lines) < 0.05] = [300, 300, 10, 10]
    return pred


def _write_pytracking_file(path: Path, boxes):
    """pytracking's ``np.savetxt(file, tracked_bb, delimiter='\\t', fmt='%d')`` (``%d`` of a float
    truncates toward zero)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(str(int(v)) for v in row) + "\n" for row in boxes))


def _fmt(boxes, sep=","):
    return "".join(sep.join("NaN" if np.isnan(v) else repr(float(v)) for v in b) + "\n" for b in boxes)


def _otb_case(root: Path, rng):
    """Tiger1 (pytracking initOmit 5), two-target Jogging, Human4 with an empty first target,
    a plain video. Returns pytracking's sequences (its table: name, annotation, initOmit)."""
    # in the table's (alphabetical) order: the float32 means then add in the same order
    table = {"Basketball": ("Basketball/groundtruth_rect.txt", 0), "Human4_2": ("Human4/groundtruth_rect.2.txt", 0),
             "Jogging_1": ("Jogging/groundtruth_rect.1.txt", 0), "Jogging_2": ("Jogging/groundtruth_rect.2.txt", 0),
             "Tiger1": ("Tiger1/groundtruth_rect.txt", 5)}
    sizes = {"Tiger1": 30, "Jogging": 14, "Human4": 12, "Basketball": 16}
    for vid, n in sizes.items():
        write_frames(root / vid / "img", [f"{i:04d}.jpg" for i in range(1, n + 1)])
    for name, (anno, _) in table.items():
        sep = "\t" if name == "Jogging_2" else ","
        (root / anno).write_text(_fmt(_awkward_gt(rng, sizes[anno.split("/")[0]], "otb"), sep))
    (root / "Human4" / "groundtruth_rect.1.txt").write_text("")
    seqs = []
    for name, (anno, omit) in table.items():
        gt = pyt_load_text(str(root / anno), (",", None))
        seqs.append((name, gt[omit:, :], "otb", None))
    return seqs, lambda: load_dataset(root, layout="otb")


def _uav_case(root: Path, rng):
    ranges = {"bike1": ("bike1", 1, 20), "car1_1": ("car1", 1, 12), "car1_2": ("car1", 12, 25)}
    (root / "anno" / "UAV123").mkdir(parents=True)
    (root / "data_seq" / "UAV123").mkdir(parents=True)
    seqs = []
    for stem, (_, s, e) in ranges.items():
        path = root / "anno" / "UAV123" / f"{stem}.txt"
        path.write_text(_fmt(_awkward_gt(rng, e - s + 1, "uav")))
        seqs.append((f"uav_{stem}", pyt_load_text(str(path), ","), "uav", None))
    return seqs, lambda: load_dataset(root, layout="uav", ranges=ranges, check_frames=False)


def _nfs_case(root: Path, rng):
    seqs = []
    for name, n in (("Basketball", 18), ("bee", 11)):
        path = root / name / "30" / f"{name}.txt"
        path.parent.mkdir(parents=True)
        (root / name / "30" / name).mkdir()
        path.write_text(_fmt(_awkward_gt(rng, n, "nfs"), "\t"))  # pytracking's converted annotations
        seqs.append((f"nfs_{name}", pyt_load_text(str(path), "\t"), "nfs", None))
    return seqs, lambda: load_dataset(root, layout="nfs", check_frames=False)


def _lasot_case(root: Path, rng):
    """Four sequences, two in testing_set.txt (pytracking's LaSOT list is the test split)."""
    test = ["cat-3", "dog-1"]
    for name, n in (("cat-1", 9), ("cat-3", 17), ("dog-1", 13), ("dog-2", 8)):
        d = root / name.split("-")[0] / name
        (d / "img").mkdir(parents=True)  # no frames: scoring reads none
        (d / "groundtruth.txt").write_text(_fmt(_awkward_gt(rng, n, "lasot")))
        for flag, p in (("full_occlusion", 0.15), ("out_of_view", 0.1)):
            v = (rng.random(n) < p).astype(int)
            v[0] = 0
            (d / f"{flag}.txt").write_text(",".join(map(str, v)) + "\n")
    (root / "testing_set.txt").write_text("\n".join(test) + "\n")
    seqs = []
    for name in test:
        d = root / name.split("-")[0] / name
        occ = pyt_load_text(str(d / "full_occlusion.txt"), ",")
        oov = pyt_load_text(str(d / "out_of_view.txt"), ",")
        seqs.append((name, pyt_load_text(str(d / "groundtruth.txt"), ","), "lasot",
                     np.logical_and(occ == 0, oov == 0)))
    return seqs, lambda: load_dataset(root, layout="lasot", split="test", check_frames=False)


CASES = {"otb": _otb_case, "uav": _uav_case, "nfs": _nfs_case, "lasot": _lasot_case}


def _write_runs(tracker_dir: Path, seqs, rng, runs=2):
    """pytracking's result tree ``<tracker>/<param>_000``, ``_001``: per sequence one result
    file per run; one sequence gets a longer file, one (not for lasot) a shorter file."""
    dirs = [tracker_dir / f"default_{r:03d}" for r in range(runs)]
    for i, (name, gt, dataset, _) in enumerate(seqs):
        for d in dirs:
            n = len(gt) + (3 if i == 0 else -4 if i == 1 and dataset != "lasot" else 0)
            _write_pytracking_file(d / f"{name}.txt", _prediction(rng, gt, n))
    return dirs


@pytest.fixture
def case(tmp_path, request):
    dataset, seed = request.param
    rng = np.random.default_rng(seed)
    seqs, load = CASES[dataset](tmp_path / "data", rng)
    dirs = _write_runs(tmp_path / "results" / "trk", seqs, rng)
    return dataset, seqs, load, dirs, tmp_path


ALL = [(d, s) for d in CASES for s in (0, 1, 2)]


@pytest.mark.parametrize("case", ALL, indirect=True, ids=[f"{d}-{s}" for d, s in ALL])
def test_pytracking_protocols_equal_pytracking(case):
    dataset, seqs, load, dirs, _ = case
    ref = pyt_scores(seqs, dirs)
    for results in (dirs[0].parent, dirs):  # the tracker folder (runs found) or the run folders
        r = evaluate(load(), results, dataset)
        got = (r.summary["auc"] * 100, r.summary["prec"] * 100, r.summary["norm_prec"] * 100)
        # same sequence order, same float32 operations: equal up to the float64 percent scaling
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("case", [("otb", 3), ("lasot", 4)], indirect=True, ids=["otb", "lasot"])
def test_wh_variant_is_pytracking_before_2022_08(case):
    dataset, seqs, load, dirs, _ = case
    old, new = pyt_scores(seqs, dirs, valid_rule="wh"), pyt_scores(seqs, dirs)
    assert old != new  # the cases hold gt rows with x <= 0 or y <= 0
    r = evaluate(load(), dirs, f"{dataset}-wh")
    assert r.protocol == f"{dataset}-wh"
    np.testing.assert_allclose([r.summary[k] * 100 for k in ("auc", "prec", "norm_prec")], old, rtol=1e-6, atol=1e-6)
    assert get_protocol(dataset).valid_rule == "xywh"


@pytest.mark.parametrize("case", [("lasot", 5)], indirect=True, ids=["lasot"])
def test_cli_lasot_scores_the_test_split_by_default(case, capsys):
    _, seqs, _, dirs, tmp = case
    ref = pyt_scores(seqs, dirs)
    argv = ["eval", "--dataset", str(tmp / "data"), "--results", str(dirs[0].parent), "--protocol", "lasot", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sequences"] == 2
    np.testing.assert_allclose([out[k] * 100 for k in ("auc", "prec", "norm_prec")], ref, rtol=1e-6, atol=1e-6)
    assert main(argv[:-1] + ["--split", "all", "--json"]) == 2  # cat-1, dog-2 have no results
    assert "no results for 2 of 4 sequences" in capsys.readouterr().err
    runs = ["eval", "--dataset", str(tmp / "data"), "--results", *map(str, dirs), "--protocol", "lasot"]
    assert main(runs + ["--split", "test", "--json"]) == 0  # the run folders named one by one
    out2 = json.loads(capsys.readouterr().out)
    assert out2["auc"] == out["auc"]
    (tmp / "data" / "testing_set.txt").unlink()
    assert main(argv) == 2
    assert "testing_set.txt: file is missing" in capsys.readouterr().err
    (dirs[1] / "dog-1.txt").unlink()  # a run without a sequence is refused, as pytracking does
    argv[argv.index("--dataset") + 1:argv.index("--dataset") + 2] = [str(tmp / "data"), "--split", "all"]
    assert main(argv) == 2
    assert "dog-1.txt: file not found" in capsys.readouterr().err


@pytest.mark.parametrize("case", [("otb", 6)], indirect=True, ids=["otb"])
def test_tiger1_follows_pytracking_frame_range(case):
    _, seqs, load, dirs, _ = case
    ds = load()
    tiger = next(s for s in ds if s.name == "Tiger1")
    assert len(tiger) == 30 and [s.name for s in ds].count("Human4") == 1
    r = evaluate(ds, dirs, "otb")
    assert r.per_sequence.loc["Tiger1", "length"] == 25
    # a result with one line per annotated frame was tracked from frame 1: refused, file named
    full = dirs[0] / "Tiger1.txt"
    _write_pytracking_file(full, np.tile([10, 12, 20, 16], (30, 1)))
    with pytest.raises(DataError, match=r"Tiger1\.txt.*frame 6"):
        evaluate(ds, dirs, "otb")


def test_short_result_is_padded_silently_as_pytracking_does(recwarn):
    from trackkit.data.sequence import Sequence
    from trackkit.eval.synthetic import _NoFrames

    gt = np.tile([10.0, 10, 10, 10], (3, 1))
    seq = Sequence("a", _NoFrames(3), gt, {}, {}, "otb")
    r = evaluate([seq], {"a": SequenceResult("a", [gt[:2]])}, "otb")
    assert r.per_sequence.loc["a", "auc"] == pytest.approx(2 / 3 * 20 / 21, rel=1e-6)
    assert not recwarn.list


def test_pytracking_names_are_written_and_read(tmp_path):
    from trackkit.data.sequence import Sequence
    from trackkit.eval.synthetic import _NoFrames

    gt = np.tile([10.0, 10, 10, 10], (4, 1))
    cases = {"uav": ("bike1", "uav_bike1"), "nfs": ("bee", "nfs_bee"), "otb": ("Jogging.1", "Jogging_1"),
             "lasot": ("cat-1", "cat-1")}
    for dataset, (name, pyt) in cases.items():
        seq = Sequence(name, _NoFrames(4), gt, {}, {}, dataset)
        write_pytracking_results(tmp_path / dataset, {name: SequenceResult(name, [gt])}, dataset=dataset)
        assert (tmp_path / dataset / f"{pyt}.txt").is_file()
        assert evaluate([seq], tmp_path / dataset, dataset).summary["auc"] == pytest.approx(20 / 21, rel=1e-6)
    human = Sequence("Human4", _NoFrames(4), gt, {}, {}, "otb")
    write_pytracking_results(tmp_path / "h", {"Human4": SequenceResult("Human4", [gt])}, dataset="otb")
    assert [p.name for p in (tmp_path / "h").iterdir()] == ["Human4_2.txt"]
    assert set(read_results(tmp_path / "h")) == {"Human4_2"}
    evaluate([human], tmp_path / "h", "otb")
    # both names present: ambiguous, refused
    write_pytracking_results(tmp_path / "h", {"Human4": SequenceResult("Human4", [gt])})
    with pytest.raises(DataError, match="two names"):
        evaluate([human], tmp_path / "h", "otb")


# ============================================================== thresholds
def test_thresholds_are_the_toolkits_bits():
    for name in ("otb", "uav", "nfs", "lasot", "otb-wh"):
        x = get_protocol(name).curve_x
        # extract_results.py: torch.arange(0.0, 1.0 + plot_bin_gap, plot_bin_gap, dtype=torch.float64)
        assert x["success"].tobytes() == torch.arange(0.0, 1.05, 0.05, dtype=torch.float64).numpy().tobytes()
        assert x["success"][13] == 0.6500000000000001 and x["success"][15] == 0.7500000000000001
        assert x["precision"].tobytes() == torch.arange(0, 51, dtype=torch.float64).numpy().tobytes()
        assert x["norm_precision"].tobytes() == (torch.arange(0, 51, dtype=torch.float64) / 100.0).numpy().tobytes()
    # TrackingNet metrics.py: np.linspace(0, 1, n), np.linspace(0, 50, n), np.linspace(0, 0.5, n), n = 21
    x = get_protocol("trackingnet").curve_x
    for key, stop in (("success", 1), ("precision", 50), ("norm_precision", 0.5)):
        assert x[key].tobytes() == np.linspace(0, stop, 21).tobytes()
    # got10k toolkit experiments/got10k.py: thr_iou = np.linspace(0, 1, self.nbins_iou), nbins_iou = 101
    assert get_protocol("got10k").curve_x["success"].tobytes() == np.linspace(0, 1, 101).tobytes()


# ============================================================== TrackingNet devkit, transcribed
def devkit_evaluate(anno_dir: Path, subm_dir: Path):
    """metrics.py ``evaluate`` over ``anno_dir/*.txt`` and ``subm_dir/<same name>``; returns
    (Success, Precision, NPrecision) averages in percent."""
    n = 21
    Success_test_avg, Precision_test_avg, NPrecision_test_avg = np.zeros(n), np.zeros(n), np.zeros(n)
    Success_X, Precision_X, NPrecision_X = np.linspace(0, 1, n), np.linspace(0, 50, n), np.linspace(0, 0.5, n)
    files = sorted(anno_dir.glob("*.txt"))
    for name_file_anno in files:
        df = pd.read_csv(name_file_anno, sep=",", names=["anno_x1", "anno_y1", "anno_w", "anno_h"])
        df_subm = pd.read_csv(subm_dir / name_file_anno.name, sep=",", names=["subm_x1", "subm_y1", "subm_w", "subm_h"])
        df["subm_x1"] = df_subm["subm_x1"]
        df["subm_y1"] = df_subm["subm_y1"]
        df["subm_w"] = df_subm["subm_w"]
        df["subm_h"] = df_subm["subm_h"]
        df["subm_w"] = np.round(df_subm["subm_w"].astype(float))
        df["subm_h"] = np.round(df_subm["subm_h"].astype(float))
        df["anno_w"] = np.round(df["anno_w"].astype(float))
        df["anno_h"] = np.round(df["anno_h"].astype(float))
        df["subm_x1"] = np.round(df_subm["subm_x1"].astype(float))
        df["subm_y1"] = np.round(df_subm["subm_y1"].astype(float))
        df["anno_x1"] = np.round(df["anno_x1"].astype(float))
        df["anno_y1"] = np.round(df["anno_y1"].astype(float))
        for c in ("x1", "y1", "w", "h"):
            df.loc[0, f"subm_{c}"] = df.loc[0, f"anno_{c}"]
        df["anno_x2"] = df["anno_x1"] + df["anno_w"] - 1.0
        df["anno_y2"] = df["anno_y1"] + df["anno_h"] - 1.0
        df["subm_x2"] = df["subm_x1"] + df["subm_w"] - 1.0
        df["subm_y2"] = df["subm_y1"] + df["subm_h"] - 1.0
        df["anno_center_x"] = df["anno_x1"] + (df["anno_w"] + 1.0) / 2.0
        df["anno_center_y"] = df["anno_y1"] + (df["anno_h"] + 1.0) / 2.0
        df["subm_center_x"] = df["subm_x1"] + (df["subm_w"] + 1.0) / 2.0
        df["subm_center_y"] = df["subm_y1"] + (df["subm_h"] + 1.0) / 2.0
        df["inter_x1"] = df[["anno_x1", "subm_x1"]].max(axis=1)
        df["inter_y1"] = df[["anno_y1", "subm_y1"]].max(axis=1)
        df["inter_x2"] = df[["anno_x2", "subm_x2"]].min(axis=1)
        df["inter_y2"] = df[["anno_y2", "subm_y2"]].min(axis=1)
        df["inter_w"] = np.round(df["inter_x2"] - df["inter_x1"] + 1).clip(lower=0)
        df["inter_h"] = np.round(df["inter_y2"] - df["inter_y1"] + 1).clip(lower=0)
        df["inter_area"] = df["inter_w"] * df["inter_h"]
        df["subm_area"] = (df["subm_h"]) * (df["subm_w"])
        df["anno_area"] = (df["anno_h"]) * (df["anno_w"])
        df["IoU"] = df["inter_area"] / (df["anno_area"] + df["subm_area"] - df["inter_area"])
        df["distance"] = ((df["anno_center_x"] - df["subm_center_x"]) * (df["anno_center_x"] - df["subm_center_x"])
                          + (df["anno_center_y"] - df["subm_center_y"]) * (df["anno_center_y"] - df["subm_center_y"])).apply(np.sqrt)
        df["ndistance"] = ((df["anno_center_x"] - df["subm_center_x"]) / df["anno_w"] * (df["anno_center_x"] - df["subm_center_x"]) / df["anno_w"]
                           + (df["anno_center_y"] - df["subm_center_y"]) / df["anno_h"] * (df["anno_center_y"] - df["subm_center_y"]) / df["anno_h"]).apply(np.sqrt)
        Success_test_avg += np.array([np.sum([i >= thres for i in df["IoU"]]).astype(float) / (len(df["IoU"])) for thres in Success_X])
        Precision_test_avg += np.array([np.sum([i <= thres for i in df["distance"]]).astype(float) / (len(df["distance"])) for thres in Precision_X])
        NPrecision_test_avg += np.array([np.sum([i <= thres for i in df["ndistance"]]).astype(float) / (len(df["ndistance"])) for thres in NPrecision_X])
    Precision = np.array(Precision_test_avg) / len(files)
    NPrecision = np.array(NPrecision_test_avg) / len(files)
    Success = np.array(Success_test_avg) / len(files)
    trapz = getattr(np, "trapezoid", None) or np.trapz
    return (trapz(Success, x=Success_X) * 100, trapz(Precision, x=Success_X) * 100,
            trapz(NPrecision, x=Success_X) * 100)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trackingnet_equals_devkit(tmp_path, seed):
    rng = np.random.default_rng(seed)
    chunk, subm = tmp_path / "TrackingNet" / "TRAIN_0", tmp_path / "subm"
    (chunk / "anno").mkdir(parents=True)
    (chunk / "frames").mkdir()
    subm.mkdir()
    for k, n in enumerate((15, 9, 12, 20)):
        gt = _awkward_gt(rng, n, "trackingnet")
        gt[rng.random(n) < 0.2, :2] += 0.5  # .5: rounded half to even by both
        (chunk / "anno" / f"vid{k}.txt").write_text(_fmt(gt))
        m = n + (-3 if k == 1 else 2 if k == 2 else 0)  # short: NaN by pandas alignment; long: dropped
        pred = _prediction(rng, gt, m) + rng.choice([0, 0.5, 0.25], (m, 4))
        same = rng.random(min(n, m)) < 0.3  # exact gt copies: IoU exactly 1, and exactly 0 on zero-size gt
        pred[:min(n, m)][same] = gt[:min(n, m)][same]
        pred[rng.random(m) < 0.05] = np.nan
        (subm / f"vid{k}.txt").write_text(_fmt(pred))
    ref = devkit_evaluate(chunk / "anno", subm)
    ds = load_dataset(chunk, layout="trackingnet", check_frames=False)
    r = evaluate(ds, subm, "trackingnet")
    got = [r.summary[k] * 100 for k in ("auc", "prec", "norm_prec")]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-7)  # percent: 1e-9 as fractions


def test_trackingnet_success_counts_iou_equal_to_threshold():
    """metrics.py counts ``IoU >= thres``: a frame with IoU exactly 0.5 passes 0.5, and every
    frame (IoU 0 included) passes the 0 threshold."""
    from trackkit.data.sequence import Sequence
    from trackkit.eval.synthetic import _NoFrames

    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], float)
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [50, 50, 10, 10]], float)  # IoU 1, 0.5, 0
    seq = Sequence("v", _NoFrames(3), gt, {}, {}, "trackingnet")
    curve = evaluate([seq], {"v": SequenceResult("v", [pred])}, "trackingnet").curves["success"]["value"].to_numpy()
    x = np.linspace(0, 1, 21)
    assert curve[0] == 1.0 and curve[x == 0.5][0] == pytest.approx(2 / 3) and curve[-1] == pytest.approx(1 / 3)
