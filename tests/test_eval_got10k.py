"""got10k protocol against the installed got10k toolkit, hand cases, result files."""
import numpy as np
import pytest

from trackkit.data.sequence import Sequence
from trackkit.errors import DataError
from trackkit.eval import evaluate, read_results, write_got10k_results, write_pytracking_results
from trackkit.eval.results import SequenceResult, read_box_file
from trackkit.eval.synthetic import (perturbed_results, read_got10k_split_annotations, synthetic_dataset,
                                     write_got10k_split, _NoFrames)


def _seq(name, gt, **labels):
    return Sequence(name, _NoFrames(len(gt)), np.asarray(gt, float), labels, {"resolution": (100, 100)}, "got10k")


def test_hand_case():
    gt = [[0, 0, 10, 10]] * 4
    pred = [[50, 50, 5, 5], [0, 0, 10, 10], [5, 0, 10, 10], [0, 0, 10, 10]]
    seq = _seq("a", gt, cover=np.array([8, 8, 8, 0]))
    r = evaluate([seq], {"a": SequenceResult("a", [pred], np.array([0.1, 0.5, 0.25, np.nan]))}, "got10k")
    # frame 0 dropped, frame 3 invisible -> IoUs 1 and 50/150
    assert r.summary["ao"] == pytest.approx((1 + 1 / 3) / 2)
    assert r.summary["sr50"] == 0.5 and r.summary["sr75"] == 0.5
    assert r.summary["fps"] == pytest.approx(np.mean([10, 2, 4]))  # mean of 1/t, frame 0 included
    curve = r.curves["success"]
    assert curve.value.iloc[0] == 1.0 and curve.value.iloc[-1] == 0.0  # strict >


def test_bound_clips_boxes_to_image():
    seq = _seq("a", [[0, 0, 10, 10], [90, 90, 20, 20]])
    r = evaluate([seq], {"a": SequenceResult("a", [[[0, 0, 1, 1], [90, 90, 10, 10]]])}, "got10k")
    assert r.summary["ao"] == pytest.approx(1.0)  # gt clipped to 10x10 inside the 100x100 image
    r = evaluate([seq], {"a": SequenceResult("a", [[[0, 0, 1, 1], [90, 90, 10, 10]]])}, "got10k", use_bound=False)
    assert r.summary["ao"] == pytest.approx(100 / 400)


@pytest.fixture(scope="module")
def got10k_tree(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("got")
    ds = synthetic_dataset(6, 30, seed=3)
    write_got10k_split(tmp / "data" / "val", ds)
    for s in ds:  # the toolkit counts image files
        for i in range(len(s)):
            (tmp / "data" / "val" / s.name / f"{i + 1:08d}.jpg").touch()
    res = perturbed_results(ds, seed=4, runs=3)
    write_got10k_results(tmp / "results" / "GOT-10k" / "trk", res)
    return tmp, ds, res


def test_matches_got10k_toolkit(got10k_tree):
    pytest.importorskip("got10k")
    import matplotlib

    matplotlib.use("Agg")
    from got10k.experiments import ExperimentGOT10k

    tmp, _, _ = got10k_tree
    exp = ExperimentGOT10k(str(tmp / "data"), subset="val", result_dir=str(tmp / "results"),
                           report_dir=str(tmp / "reports"))
    ref = exp.report(["trk"])["trk"]
    ours = evaluate(read_got10k_split_annotations(tmp / "data" / "val"), tmp / "results" / "GOT-10k" / "trk", "got10k")
    assert abs(ours.summary["ao"] - ref["overall"]["ao"]) < 1e-9
    assert abs(ours.summary["sr50"] - ref["overall"]["sr"]) < 1e-9
    assert abs(ours.summary["fps"] - ref["overall"]["speed_fps"]) < 1e-9 * ref["overall"]["speed_fps"]
    np.testing.assert_allclose(ours.curves["success"].value, ref["overall"]["succ_curve"], atol=1e-12)
    for name, row in ref["seq_wise"].items():
        assert abs(ours.per_sequence.loc[name, "ao"] - row["ao"]) < 1e-9
        assert abs(ours.per_sequence.loc[name, "sr50"] - row["sr"]) < 1e-9
        assert ours.per_sequence.loc[name, "length"] == row["length"]


def test_result_files_round_trip(tmp_path, got10k_tree):
    _, ds, res = got10k_tree
    write_got10k_results(tmp_path / "g", res)
    back = read_results(tmp_path / "g")
    assert back.layout == "got10k" and set(back) == set(res)
    name = ds[0].name
    assert len(back[name].runs) == 3 and back[name].times.shape == (30, 3)
    np.testing.assert_array_equal(back[name].runs[1], res[name].runs[1])  # %.3f data is exact
    text = (tmp_path / "g" / name / f"{name}_001.txt").read_text().splitlines()[0]
    assert text.count(",") == 3 and " " not in text
    write_pytracking_results(tmp_path / "p", res)
    back = read_results(tmp_path / "p")
    assert back.layout == "pytracking"
    np.testing.assert_array_equal(back[name].runs[0], res[name].runs[0].astype(int))  # truncation
    assert "\t" in (tmp_path / "p" / f"{name}.txt").read_text()


@pytest.mark.parametrize("content, problem, line", [
    ("1,2,3,4\n1,2,3\n", "expected 4 values", 2),
    ("1,2,3,4\n1,2,x,4\n", "'x' is not a number", 2),
    ("1,2,3,4\n1,2,3,4\nnan,2,3,4\n", "NaN is not allowed", 3),
    ("1,2,3,4\n\n1,2,3,4\n", "empty line", 2),
])
def test_malformed_files_name_file_and_line(tmp_path, content, problem, line):
    p = tmp_path / "s_001.txt"
    p.write_text(content)
    with pytest.raises(DataError, match=problem) as e:
        read_box_file(p, allow_nan=False)
    assert e.value.line == line and e.value.path == p and f"s_001.txt:{line}:" in str(e.value)


def test_length_mismatch_and_missing_sequences(tmp_path):
    seq = _seq("a", [[0, 0, 10, 10]] * 3)
    res = {"a": SequenceResult("a", [[[0, 0, 10, 10]] * 2])}
    write_got10k_results(tmp_path, res)
    with pytest.raises(DataError, match="2 lines but sequence a has 3 frames"):
        evaluate([seq], tmp_path, "got10k")
    with pytest.raises(DataError, match="no results for 1 of 2 sequences: b"):
        evaluate([seq, _seq("b", [[0, 0, 1, 1]] * 3)], tmp_path, "got10k")
    nan = {"a": SequenceResult("a", [[[0, 0, 10, 10], [np.nan, 0, 1, 1], [0, 0, 1, 1]]], sources=["f.txt"])}
    with pytest.raises(DataError, match="f.txt:2: NaN"):
        evaluate([seq], nan, "got10k")
