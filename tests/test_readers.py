"""Each reader on a tiny folder written in its layout: boxes, labels, attributes, frames."""
from __future__ import annotations

import numpy as np
import pytest

from dataset_fixtures import write_got10k, write_lasot, write_nfs, write_otb, write_trackingnet, write_uav
from trackkit.data import ImageFiles
from trackkit.data.readers import check, detect_layout, load_dataset, uav


def assert_matches(ds, expected):
    got = ds.by_name()
    assert sorted(got) == sorted(expected)
    for name, exp in expected.items():
        seq = got[name]
        assert seq.boxes.dtype == np.float64
        np.testing.assert_array_equal(seq.boxes, exp["boxes"])  # exact: never shifted
        assert sorted(seq.labels) == sorted(exp["labels"])
        for k, v in exp["labels"].items():
            np.testing.assert_array_equal(seq.labels[k], v)
        assert isinstance(seq.frames, ImageFiles)


def test_got10k_val_split_folder_and_root(tmp_path):
    exp = write_got10k(tmp_path, "val", n_seqs=3, n_frames=4, resolution=(640, 360))
    for path, split in [(tmp_path / "val", None), (tmp_path, None), (tmp_path, "val")]:
        ds = load_dataset(path, split=split)
        assert (ds.name, ds.split, ds.root) == ("got10k", "val", tmp_path)
        assert [s.name for s in ds] == sorted(exp)  # list.txt order
        assert_matches(ds, exp)
    seq = ds[0]
    assert len(seq) == 4 and seq.fully_annotated
    assert seq.attributes["resolution"] == (640, 360) and seq.resolution == (640, 360)
    assert seq.attributes["object_class"] == "ant"
    assert seq.attributes["url"] == "https://youtu.be/x?t=1%20s"  # raw: '%' kept, no interpolation
    assert seq.attributes["anno_fps"] == "10Hz"
    assert seq.frame(0).shape == (12, 16, 3)
    assert seq.frames.paths[0].name == "00000001.jpg"
    np.testing.assert_array_equal(seq.visible, (seq.labels["absence"] == 0) & (seq.labels["cover"] > 0))


def test_got10k_test_split_first_box_only(tmp_path):
    exp = write_got10k(tmp_path, "test", n_seqs=2, n_frames=6)
    ds = load_dataset(tmp_path / "test")
    assert ds.split == "test"
    assert_matches(ds, exp)
    assert all(len(s) == 6 and s.boxes.shape == (1, 4) and not s.fully_annotated for s in ds)


def test_got10k_root_with_several_splits_needs_split(tmp_path):
    write_got10k(tmp_path, "val")
    exp = write_got10k(tmp_path, "train", n_seqs=1)
    from trackkit.errors import DataError

    with pytest.raises(DataError, match="pass split="):
        load_dataset(tmp_path)
    assert_matches(load_dataset(tmp_path, split="train"), exp)


def test_lasot_all_and_test_split(tmp_path):
    exp = write_lasot(tmp_path, classes=("airplane", "bird"), per_class=2, n_frames=5)
    assert detect_layout(tmp_path) == "lasot"
    ds = load_dataset(tmp_path)
    assert_matches(ds, exp)
    assert [s.name for s in ds] == ["airplane-1", "airplane-2", "bird-1", "bird-2"]
    test = load_dataset(tmp_path, split="test")
    assert [s.name for s in test] == ["airplane-1", "bird-1"]
    assert [s.name for s in load_dataset(tmp_path, split="train")] == ["airplane-2", "bird-2"]
    s = test[1]
    assert s.attributes == {"class": "bird", "nlp": "the bird flying left"}
    assert s.frames.paths[-1].relative_to(tmp_path).as_posix() == "bird/bird-1/img/00000005.jpg"
    np.testing.assert_array_equal(s.visible, (s.labels["full_occlusion"] == 0) & (s.labels["out_of_view"] == 0))


def test_lasot_numeric_sort_of_indices(tmp_path):
    write_lasot(tmp_path, classes=("cat",), per_class=10, n_frames=2)
    assert [s.name for s in load_dataset(tmp_path)][:3] == ["cat-1", "cat-2", "cat-3"]


def test_otb_quirks(tmp_path):
    exp = write_otb(tmp_path)
    assert detect_layout(tmp_path) == "otb"
    ds = load_dataset(tmp_path)
    assert_matches(ds, exp)
    got = ds.by_name()
    assert "Jogging.1" in got and "Jogging.2" in got and "Jogging" not in got
    assert got["Jogging.1"].frames.paths == got["Jogging.2"].frames.paths
    assert [p.name for p in got["BlurCar3"].frames.paths] == ["00003.jpg", "00004.jpg", "00005.jpg", "00006.jpg"]
    assert [p.name for p in got["David"].frames.paths] == ["0300.jpg", "0301.jpg", "0302.jpg"]
    assert got["David"].attributes["start_frame"] == 300
    for s in ds:
        s.frames.check()


def test_otb_annotated_end_and_empty_second_target(tmp_path, monkeypatch):
    from trackkit.data.readers import otb

    exp = write_otb(tmp_path, {"Football1": (6, 1, ",", 1, 4)})
    # 6 images, 6 boxes: fine. Drop two boxes: only allowed for a known truncated video.
    gt = tmp_path / "Football1/groundtruth_rect.txt"
    gt.write_text("".join(gt.read_text().splitlines(True)[:4]))
    monkeypatch.setitem(otb.ANNOTATED_END, "Football1", 4)
    seq = load_dataset(tmp_path, layout="otb")[0]
    assert len(seq) == 4
    np.testing.assert_array_equal(seq.boxes, exp["Football1"]["boxes"][:4])
    (tmp_path / "Football1/groundtruth_rect.2.txt").write_text("\n")  # Human4-like empty target
    assert [s.name for s in load_dataset(tmp_path, layout="otb")] == ["Football1"]


def test_uav_ranges_and_nan_rows(tmp_path):
    exp, ranges = write_uav(tmp_path)
    assert detect_layout(tmp_path) == "uav"
    ds = load_dataset(tmp_path, ranges=ranges)
    assert_matches(ds, exp)
    s = ds.by_name()["car1_2"]
    assert [p.name for p in s.frames.paths] == ["000003.jpg", "000004.jpg", "000005.jpg", "000006.jpg"]
    assert np.isnan(s.boxes[1]).all() and s.visible.tolist() == [True, False, True, True]
    assert s.attributes == {"folder": "car1", "start_frame": 3, "end_frame": 6}


def test_uav_toolkit_table_matches_pytracking_scheme():
    table = uav.toolkit_ranges()
    if table is None:
        pytest.skip("got10k toolkit not installed")
    assert len(table) == 123
    assert table["bird1_2"] == ("bird1", 775, 1477)
    assert table["car1_2"][1] == table["car1_1"][2]  # pytracking's ranges share the boundary frame


def test_uav_without_ranges_whole_folders(tmp_path):
    exp, _ = write_uav(tmp_path)
    ds = uav.read(tmp_path, ranges={"car1_1": ("car1", 1, 3), "car1_2": ("car1", 3, 6)})
    assert_matches(ds, exp)  # bike1 resolved as a whole folder


def test_nfs_tab_and_raw_annotations(tmp_path):
    exp = write_nfs(tmp_path)
    assert detect_layout(tmp_path) == "nfs"
    ds = load_dataset(tmp_path)
    assert_matches(ds, exp)
    assert ds[0].frames.paths[0].relative_to(tmp_path).as_posix() == "Gymnastics/30/Gymnastics/00001.jpg"


def test_nfs_fix_rate_subsamples_240fps_rows(tmp_path):
    exp = write_nfs(tmp_path, names=("bee",), n_frames=3)
    gt = tmp_path / "bee/30/bee.txt"
    rows = gt.read_text().splitlines(True)
    # 24 rows at 240 fps: every 8th row is a 30 fps frame.
    gt.write_text("".join(r for r in rows for _ in range(8)))
    from trackkit.errors import DataError

    with pytest.raises(DataError, match="24 boxes"):
        load_dataset(tmp_path)
    assert_matches(load_dataset(tmp_path, fix_rate=True), exp)


def test_trackingnet_chunks(tmp_path):
    exp = write_trackingnet(tmp_path)
    assert detect_layout(tmp_path) == "trackingnet"
    test = load_dataset(tmp_path)
    assert test.split == "test" and all(s.boxes.shape == (1, 4) and len(s) == 4 for s in test)
    train = load_dataset(tmp_path, split="train")
    assert sorted(s.attributes["chunk"] for s in train) == ["TRAIN_0"] * 2 + ["TRAIN_1"] * 2
    assert_matches(train, {k: v for k, v in exp.items() if v["chunk"] != "TEST"})
    one = load_dataset(tmp_path / "TRAIN_1")
    assert one.split == "TRAIN_1" and len(one) == 2
    assert [p.name for p in one[0].frames.paths] == ["0.jpg", "1.jpg", "2.jpg", "3.jpg"]
    assert_matches(load_dataset(tmp_path, split="TEST"), {k: v for k, v in exp.items() if v["chunk"] == "TEST"})


def test_check_passes_on_complete_dataset(tmp_path):
    write_got10k(tmp_path, "val")
    check(load_dataset(tmp_path / "val"))


@pytest.mark.parametrize("layout", ["trackingnet", "nfs", "uav", "lasot"])
def test_check_frames_false_defers_missing_frame_to_check(tmp_path, layout):
    from trackkit.errors import DataError

    opts = {}
    if layout == "trackingnet":
        write_trackingnet(tmp_path, chunks=("TRAIN_0",), per_chunk=1)
        victim, opts = tmp_path / "TRAIN_0/frames/train_0_vid0/3.jpg", {"split": "train"}
    elif layout == "nfs":
        write_nfs(tmp_path, names=("bee",))
        victim = tmp_path / "bee/30/bee/00004.jpg"
    elif layout == "uav":
        _, ranges = write_uav(tmp_path)
        victim, opts = tmp_path / "data_seq/UAV123/car1/000006.jpg", {"ranges": ranges}
    else:
        write_lasot(tmp_path, classes=("bird",), per_class=1)
        victim = tmp_path / "bird/bird-1/img/00000005.jpg"
    victim.unlink()
    with pytest.raises(DataError):
        load_dataset(tmp_path, **opts)
    ds = load_dataset(tmp_path, check_frames=False, **opts)
    with pytest.raises(DataError, match="is missing") as info:
        check(ds)
    assert info.value.path == victim
