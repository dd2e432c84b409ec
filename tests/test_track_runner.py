"""Result writing: layouts, resume, atomic files, and the CLI end to end."""
import numpy as np
import pytest

from trackkit.data.sequence import ArrayFrames, Sequence
from trackkit.eval.results import read_results
from trackkit.track.baselines import InitBoxTracker
from trackkit.crop import TrackConfig
from trackkit.track.onestream import OneStreamTracking
from trackkit.track.runner import result_paths, run_tracker, sequence_finished
from trackkit.track.toy import ToyOneStream
from trackkit.track.tracker import ModelTracker


def _seqs(lengths=(3, 4, 2)):
    rng = np.random.default_rng(0)
    return [Sequence(f"seq{k}", ArrayFrames(rng.integers(0, 256, (n, 80, 100, 3), dtype=np.uint8)),
                     np.array([[30.5, 20.25, 20.0, 15.0]])) for k, n in enumerate(lengths)]


class Counting(InitBoxTracker):
    def __init__(self, fail_on=None):
        super().__init__()
        self.seen, self.fail_on = [], fail_on

    def initialize(self, frame, box, sequence=None):
        if sequence.name == self.fail_on:
            raise RuntimeError("boom")
        self.seen.append(sequence.name)
        super().initialize(frame, box, sequence)


def test_got10k_layout_and_times(tmp_path):
    seqs = _seqs()
    s = run_tracker(InitBoxTracker(), seqs, tmp_path, progress=False)
    assert (s.sequences, s.skipped, s.frames) == (3, 0, 9) and s.fps > 0
    box_file, time_file = result_paths(tmp_path, "init_box", "seq0")
    assert box_file == tmp_path / "init_box" / "seq0" / "seq0_001.txt"
    assert box_file.read_text().splitlines()[1] == "30.500,20.250,20.000,15.000"
    assert len(time_file.read_text().splitlines()) == 3
    res = read_results(tmp_path / "init_box")
    assert sorted(res) == ["seq0", "seq1", "seq2"] and res["seq1"].runs[0].shape == (4, 4)


def test_pytracking_layout_ints(tmp_path):
    run_tracker(InitBoxTracker(), _seqs(), tmp_path, layout="pytracking", progress=False)
    lines = (tmp_path / "init_box" / "seq0.txt").read_text().splitlines()
    assert lines == ["30\t20\t20\t15"] * 3
    assert (tmp_path / "init_box" / "seq0_time.txt").is_file()
    with pytest.raises(Exception, match="layout"):
        run_tracker(InitBoxTracker(), _seqs(), tmp_path, layout="vot", progress=False)


def test_resume_skips_finished_and_redoes_incomplete(tmp_path):
    seqs = _seqs()
    run_tracker(InitBoxTracker(), seqs, tmp_path, progress=False)
    box0, _ = result_paths(tmp_path, "init_box", "seq0")
    box1, _ = result_paths(tmp_path, "init_box", "seq1")
    box0.unlink()
    box1.write_text("1,2,3,4\n")  # a foreign, short file is not "finished"
    t = Counting()
    s = run_tracker(t, seqs, tmp_path, name="init_box", progress=False)
    assert sorted(t.seen) == ["seq0", "seq1"] and s.skipped == 1
    assert all(sequence_finished(tmp_path, "init_box", q) for q in seqs)
    t = Counting()
    run_tracker(t, seqs, tmp_path, name="init_box", progress=False, resume=False)
    assert len(t.seen) == 3


def test_crash_leaves_complete_files_only(tmp_path):
    seqs = _seqs()
    with pytest.raises(RuntimeError, match="boom"):
        run_tracker(Counting(fail_on="seq1"), seqs, tmp_path, name="t", progress=False)
    assert sequence_finished(tmp_path, "t", seqs[0]) and not sequence_finished(tmp_path, "t", seqs[1])
    assert not (tmp_path / "t" / "seq1").exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_batched_run_writes_same_files(tmp_path):
    seqs = _seqs((3, 5, 1, 2))
    trk = ModelTracker(ToyOneStream(search_size=128), OneStreamTracking(),
                       TrackConfig(template_size=64, search_size=128))
    run_tracker(trk, seqs, tmp_path, name="one", progress=False)
    s = run_tracker(trk, seqs, tmp_path, name="many", batch_size=3, progress=False)
    assert s.sequences == 4
    for q in seqs:
        a, _ = result_paths(tmp_path, "one", q.name)
        b, _ = result_paths(tmp_path, "many", q.name)
        assert a.read_text() == b.read_text()
    with pytest.raises(Exception, match="batch"):
        run_tracker(InitBoxTracker(), seqs, tmp_path, name="x", batch_size=2, progress=False)


def test_cli_track_eval_baselines_end_to_end(tmp_path, capsys):
    from trackkit.cli import main
    from trackkit.families import build_model, get_preset, save_model

    data = tmp_path / "data"
    assert main(["synth", str(data), "--split", "test", "--sequences", "2", "--frames", "4", "--no-progress"]) == 0
    split = data / "test"
    weights = tmp_path / "w.pth"
    import torch

    torch.manual_seed(0)
    save_model(weights, build_model(get_preset("ostrack-cpu")), get_preset("ostrack-cpu"))
    res = tmp_path / "res"
    common = ["track", "--preset", "ostrack-cpu", "--weights", str(weights), "--dataset", str(split), "--no-progress"]
    assert main(common + ["--out", str(res), "--batch", "2"]) == 0
    assert main(common + ["--out", str(res), "--name", "seq1by1"]) == 0
    for d in sorted((res / "ostrack-cpu").iterdir()):
        assert (d / f"{d.name}_001.txt").read_text() == (res / "seq1by1" / d.name / f"{d.name}_001.txt").read_text()
    capsys.readouterr()
    assert main(["eval", "--dataset", str(split), "--results", str(res / "ostrack-cpu"), "--json"]) == 0
    assert '"ao"' in capsys.readouterr().out
    assert main(common + ["--out", str(res), "--layout", "pytracking", "--name", "pt"]) == 0
    assert len(list((res / "pt").glob("*_time.txt"))) == 2
    # bad weights: a clean error naming the file
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    assert main(["track", "--preset", "ostrack-cpu", "--weights", str(bad), "--dataset", str(split),
                 "--out", str(res), "--no-progress"]) == 2
    assert "bad.pth" in capsys.readouterr().err
    assert main(["baselines", "--dataset", str(split), "--out", str(tmp_path / "b"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "ground_truth" in out and "init_box" in out and "auc" in out


def test_pytracking_layout_follows_pytracking_names_and_ranges(tmp_path):
    """OTB tracked into the pytracking layout is what pytracking writes (Tiger1 from frame 6,
    Jogging_1), and the otb protocol scores it against the full annotation."""
    from trackkit.data.sequence import Dataset
    from trackkit.eval import evaluate

    rng = np.random.default_rng(3)
    def seq(name, n):
        boxes = np.tile([[30.0, 20.0, 20.0, 15.0]], (n, 1)) + rng.uniform(0, 2, (n, 4))
        return Sequence(name, ArrayFrames(rng.integers(0, 256, (n, 60, 80, 3), dtype=np.uint8)), boxes, dataset="otb")

    ds = Dataset([seq("Tiger1", 12), seq("Jogging.1", 7)], name="otb")
    s = run_tracker(InitBoxTracker(), ds, tmp_path, name="ib", layout="pytracking", progress=False)
    assert s.frames == (12 - 5) + 7
    assert len((tmp_path / "ib" / "Tiger1.txt").read_text().splitlines()) == 7
    assert (tmp_path / "ib" / "Jogging_1.txt").is_file() and not (tmp_path / "ib" / "Jogging.1.txt").exists()
    assert run_tracker(InitBoxTracker(), ds, tmp_path, name="ib", layout="pytracking", progress=False).skipped == 2
    r = evaluate(ds, tmp_path / "ib", "otb")
    assert 0 < r.summary["auc"] <= 1
    first = np.loadtxt(tmp_path / "ib" / "Tiger1.txt", delimiter="\t")[0]
    assert np.array_equal(first, np.trunc(ds[0].boxes[5]))  # initialised on frame 6's box
