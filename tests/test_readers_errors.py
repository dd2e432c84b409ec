"""Every malformed input raises DataError naming the file, the 1-based line and the problem."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dataset_fixtures import format_boxes, write_got10k, write_lasot, write_nfs, write_otb, write_trackingnet, write_uav
from trackkit.data.readers import check, load_dataset
from trackkit.data.readers.common import read_flags, read_table
from trackkit.errors import DataError


def raises_at(path, line, match):
    """Context manager: DataError for ``path`` at ``line`` whose problem matches ``match``."""

    class _Ctx:
        def __enter__(self):
            self.cm = pytest.raises(DataError, match=match)
            self.info = self.cm.__enter__()
            return self.info

        def __exit__(self, *exc):
            ok = self.cm.__exit__(*exc)
            err = self.info.value
            assert err.path == path, (err.path, path)
            assert err.line == line, (err.line, line, str(err))
            return ok

    return _Ctx()


def set_line(path, lineno, text):
    lines = path.read_text().splitlines(True)
    lines[lineno - 1] = text + "\n"
    path.write_text("".join(lines))


@pytest.fixture
def got(tmp_path):
    write_got10k(tmp_path, "val", n_seqs=1, n_frames=5)
    return tmp_path / "val", tmp_path / "val" / "GOT-10k_Val_000001"


# ---- annotation tables ---------------------------------------------------------------

def test_wrong_column_count(got):
    split, seq = got
    set_line(seq / "groundtruth.txt", 3, "1,2,3")
    with raises_at(seq / "groundtruth.txt", 3, "expected 4 columns, found 3"):
        load_dataset(split)


def test_wrong_column_count_everywhere(got):
    split, seq = got
    (seq / "groundtruth.txt").write_text("1,2,3,4,5\n" * 5)
    with raises_at(seq / "groundtruth.txt", 1, "expected 4 columns, found 5"):
        load_dataset(split)


def test_non_numeric_value(got):
    split, seq = got
    set_line(seq / "groundtruth.txt", 4, "1,2,abc,4")
    with raises_at(seq / "groundtruth.txt", 4, "non-numeric value 'abc'"):
        load_dataset(split)


def test_nan_not_allowed_in_got10k(got):
    split, seq = got
    set_line(seq / "groundtruth.txt", 2, "1,nan,3,4")
    with raises_at(seq / "groundtruth.txt", 2, "NaN value"):
        load_dataset(split)


def test_negative_size(got):
    split, seq = got
    set_line(seq / "groundtruth.txt", 5, "1,2,-3,4")
    with raises_at(seq / "groundtruth.txt", 5, "negative box size"):
        load_dataset(split)


def test_line_numbers_count_blank_lines(got):
    split, seq = got
    gt = seq / "groundtruth.txt"
    gt.write_text("\n" + gt.read_text().replace("\n", "\n\n", 1))
    set_line(gt, 4, "1,2,-3,4")  # line 4 is the third data row
    with raises_at(gt, 4, "negative box size"):
        load_dataset(split)


def test_empty_groundtruth(got):
    split, seq = got
    (seq / "groundtruth.txt").write_text("")
    with raises_at(seq / "groundtruth.txt", None, "file is empty"):
        load_dataset(split)


def test_uav_partial_nan_row(tmp_path):
    _, ranges = write_uav(tmp_path)
    gt = tmp_path / "anno/UAV123/car1_1.txt"
    set_line(gt, 2, "NaN,1,2,3")
    with raises_at(gt, 2, "partly NaN row"):
        load_dataset(tmp_path, ranges=ranges)


def test_otb_whitespace_file_bad_value(tmp_path):
    write_otb(tmp_path, {"Bolt": (3, 1, "\t", 1, 4)})
    gt = tmp_path / "Bolt/groundtruth_rect.txt"
    set_line(gt, 2, "1\t2\t3\t4x")
    with raises_at(gt, 2, "non-numeric value '4x'"):
        load_dataset(tmp_path)


def test_nfs_raw_missing_columns(tmp_path):
    write_nfs(tmp_path, names=("bee",))
    gt = tmp_path / "bee/30/bee.txt"
    set_line(gt, 3, "1 2 3")
    with raises_at(gt, 3, "at least 5 columns"):
        load_dataset(tmp_path)


# ---- lengths ---------------------------------------------------------------------------

def test_got10k_gt_frame_count_mismatch(got):
    split, seq = got
    (seq / "00000005.jpg").unlink()
    with raises_at(seq / "groundtruth.txt", None, "has 5 boxes but .* holds 4 frames"):
        load_dataset(split)


def test_got10k_test_split_wrong_box_count(tmp_path):
    write_got10k(tmp_path, "test", n_seqs=1, n_frames=5)
    gt = tmp_path / "test/GOT-10k_Test_000001/groundtruth.txt"
    gt.write_text(gt.read_text() * 2)
    with raises_at(gt, None, "expected the first box only"):
        load_dataset(tmp_path / "test")


def test_lasot_gt_frame_count_mismatch(tmp_path):
    write_lasot(tmp_path, classes=("bird",), per_class=1)
    gt = tmp_path / "bird/bird-1/groundtruth.txt"
    gt.write_text(gt.read_text() + "1,2,3,4\n")
    with raises_at(gt, None, "has 6 boxes but .* holds 5 frames"):
        load_dataset(tmp_path)


def test_otb_gt_frame_count_mismatch(tmp_path):
    write_otb(tmp_path, {"Basketball": (4, 1, ",", 1, 4)})
    gt = tmp_path / "Basketball/groundtruth_rect.txt"
    gt.write_text("".join(gt.read_text().splitlines(True)[:3]))  # not a known truncated video
    with raises_at(gt, None, "has 3 boxes for frames 1..3 but .* holds frames 1..4"):
        load_dataset(tmp_path)


def test_uav_range_length_mismatch(tmp_path):
    _, ranges = write_uav(tmp_path)
    ranges = dict(ranges, car1_2=("car1", 2, 6))
    with raises_at(tmp_path / "anno/UAV123/car1_2.txt", None, "range of car1_2 is frames 2..6"):
        load_dataset(tmp_path, ranges=ranges)


def test_uav_range_past_last_frame(tmp_path):
    _, ranges = write_uav(tmp_path)
    (tmp_path / "data_seq/UAV123/car1/000006.jpg").unlink()
    with raises_at(tmp_path / "anno/UAV123/car1_2.txt", None, "spans frames 3..6 but .* holds 5 frames"):
        load_dataset(tmp_path, ranges=ranges)


def test_uav_unknown_subsequence(tmp_path):
    write_uav(tmp_path)
    with raises_at(tmp_path / "anno/UAV123/car1_1.txt", None, "no frame range known"):
        load_dataset(tmp_path, ranges={"bike1": ("bike1", 1, 4)})


def test_trackingnet_gt_frame_count_mismatch(tmp_path):
    write_trackingnet(tmp_path, chunks=("TRAIN_0",), per_chunk=1)
    (tmp_path / "TRAIN_0/frames/train_0_vid0/3.jpg").unlink()
    with raises_at(tmp_path / "TRAIN_0/anno/train_0_vid0.txt", None, "has 4 boxes but .* holds 3 frames"):
        load_dataset(tmp_path, split="train")


def test_nfs_gt_frame_count_mismatch(tmp_path):
    write_nfs(tmp_path, names=("Gymnastics",))
    (tmp_path / "Gymnastics/30/Gymnastics/00004.jpg").unlink()
    with raises_at(tmp_path / "Gymnastics/30/Gymnastics.txt", None, "has 4 boxes but .* holds 3 frames"):
        load_dataset(tmp_path)


def test_got10k_label_length_mismatch(got):
    split, seq = got
    lab = seq / "cover.label"
    lab.write_text(lab.read_text() + "3\n")
    with raises_at(lab, 6, "has 6 labels but the sequence has 5 frames"):
        load_dataset(split)
    lab.write_text("1\n2\n")
    with raises_at(lab, None, "has 2 labels but the sequence has 5 frames"):
        load_dataset(split)


def test_lasot_label_length_mismatch(tmp_path):
    write_lasot(tmp_path, classes=("bird",), per_class=1)
    lab = tmp_path / "bird/bird-1/out_of_view.txt"
    lab.write_text("0,0,1\n")
    with raises_at(lab, None, "has 3 labels but the sequence has 5 frames"):
        load_dataset(tmp_path)


def test_label_value_out_of_range(got):
    split, seq = got
    set_line(seq / "cover.label", 2, "9")
    with raises_at(seq / "cover.label", 2, r"'9' is not an integer in 0..8"):
        load_dataset(split)
    set_line(seq / "cover.label", 2, "0.5")
    with raises_at(seq / "cover.label", 2, "not an integer"):
        load_dataset(split)


def test_missing_label_file(got):
    split, seq = got
    (seq / "absence.label").unlink()
    with raises_at(seq / "absence.label", None, "file is missing"):
        load_dataset(split)


# ---- meta_info.ini --------------------------------------------------------------------

def test_meta_bad_line(got):
    split, seq = got
    meta = seq / "meta_info.ini"
    set_line(meta, 3, "this line has no colon")
    with raises_at(meta, 3, "not a 'key: value' line"):
        load_dataset(split)


def test_meta_bad_resolution(got):
    split, seq = got
    meta = seq / "meta_info.ini"
    set_line(meta, 11, "resolution: big")
    with raises_at(meta, 11, "resolution 'big' is not"):
        load_dataset(split)


# ---- lists and layouts ----------------------------------------------------------------

def test_got10k_list_entry_missing(got):
    split, _ = got
    (split / "list.txt").write_text("GOT-10k_Val_000001\nGOT-10k_Val_000009\n")
    with raises_at(split / "list.txt", 2, "lists 'GOT-10k_Val_000009'"):
        load_dataset(split)


def test_lasot_testing_set_entry_missing(tmp_path):
    write_lasot(tmp_path, classes=("bird",), per_class=1, test=("bird-1", "bird-7"))
    with raises_at(tmp_path / "testing_set.txt", 2, "lists 'bird-7'"):
        load_dataset(tmp_path, split="test")


def test_lasot_test_split_without_list(tmp_path):
    write_lasot(tmp_path, classes=("bird",), per_class=1)
    (tmp_path / "testing_set.txt").unlink()
    with raises_at(tmp_path / "testing_set.txt", None, "file is missing"):
        load_dataset(tmp_path, layout="lasot", split="test")


def test_unknown_layout_detected(tmp_path):
    (tmp_path / "stuff").mkdir()
    with raises_at(tmp_path, None, "cannot tell the dataset layout; expected one of: GOT-10k"):
        load_dataset(tmp_path)


def test_unknown_layout_name(tmp_path):
    with raises_at(tmp_path, None, "unknown dataset layout 'vot'"):
        load_dataset(tmp_path, layout="vot")


def test_missing_dataset_folder(tmp_path):
    with raises_at(tmp_path / "nope", None, "does not exist"):
        load_dataset(tmp_path / "nope")


def test_unknown_split(tmp_path):
    write_got10k(tmp_path, "val", n_seqs=1)
    with raises_at(tmp_path, None, "unknown GOT-10k split 'dev'"):
        load_dataset(tmp_path, split="dev")
    write_trackingnet(tmp_path / "tn", chunks=("TEST",), per_chunk=1)
    with raises_at(tmp_path / "tn", None, "no TrackingNet chunk for split 'TRAIN_4'"):
        load_dataset(tmp_path / "tn", split="TRAIN_4")


# ---- frames ---------------------------------------------------------------------------

def test_missing_frame_on_access_and_check(got):
    split, seq = got
    ds = load_dataset(split, check_frames=False)  # no count: the gap is found lazily
    (seq / "00000003.jpg").unlink()
    ds[0].frame(0)
    with raises_at(seq / "00000003.jpg", None, "frame 2 is missing"):
        ds[0].frame(2)
    with raises_at(seq / "00000003.jpg", None, "frame 2 is missing"):
        check(ds)


def test_unreadable_frame_on_access(got):
    split, seq = got
    (seq / "00000002.jpg").write_bytes(b"not a jpeg")
    ds = load_dataset(split)
    with raises_at(seq / "00000002.jpg", None, "frame 1 cannot be read as an image"):
        ds[0].frame(1)


# ---- property tests of the table parser -----------------------------------------------

boxes_st = st.integers(1, 30).flatmap(
    lambda n: st.lists(st.lists(st.integers(0, 4000), min_size=4, max_size=4), min_size=n, max_size=n)
)


@settings(max_examples=40, deadline=None)
@given(rows=boxes_st, sep=st.sampled_from([",", "\t", " ", ", "]), blank=st.booleans())
def test_table_round_trip(tmp_path_factory, rows, sep, blank):
    boxes = np.array(rows, dtype=np.float64) / 8
    path = tmp_path_factory.mktemp("t") / "gt.txt"
    text = format_boxes(boxes, sep)
    path.write_text(text + ("\n\n" if blank else ""))
    delim = "auto" if sep != "," else ","
    np.testing.assert_array_equal(read_table(path, delimiter=delim), boxes)


@settings(max_examples=40, deadline=None)
@given(rows=boxes_st, data=st.data(), bad=st.sampled_from(["x", "1,2", "1,2,3,4,5", "1,nan,1,1", "1,1,-1,1"]))
def test_table_bad_line_located(tmp_path_factory, rows, data, bad):
    boxes = np.array(rows, dtype=np.float64)
    lines = format_boxes(boxes).splitlines()
    k = data.draw(st.integers(0, len(lines) - 1))
    lines[k] = bad
    path = tmp_path_factory.mktemp("t") / "gt.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        read_table(path)
    assert info.value.line == k + 1 and info.value.path == path


@settings(max_examples=30, deadline=None)
@given(vals=st.lists(st.integers(0, 8), min_size=1, max_size=40), comma=st.booleans())
def test_flags_round_trip(tmp_path_factory, vals, comma):
    path = tmp_path_factory.mktemp("f") / "l.txt"
    path.write_text(",".join(map(str, vals)) + "\n" if comma else "".join(f"{v}\n" for v in vals))
    np.testing.assert_array_equal(read_flags(path, len(vals), max_value=8), vals)


def test_got10k_missing_list_txt(tmp_path):
    write_got10k(tmp_path, "val", n_seqs=1)
    (tmp_path / "val/list.txt").unlink()
    with raises_at(tmp_path / "val/list.txt", None, "file is missing"):
        load_dataset(tmp_path, layout="got10k", split="val")


def test_comment_lines_are_not_silently_skipped(got):
    split, seq = got
    set_line(seq / "groundtruth.txt", 2, "# 1,2,3,4")
    with raises_at(seq / "groundtruth.txt", 2, "non-numeric value"):
        load_dataset(split)


def test_meta_missing_header(got):
    split, seq = got
    meta = seq / "meta_info.ini"
    meta.write_text("\n".join(meta.read_text().splitlines()[1:]) + "\n")
    with raises_at(meta, 1, "expected a '\\[METAINFO\\]' header"):
        load_dataset(split)


def test_unknown_reader_option(tmp_path):
    from trackkit.errors import ConfigError

    write_lasot(tmp_path, classes=("bird",), per_class=1)
    with pytest.raises(ConfigError, match=r"lasot reader has no option\(s\) \['ranges'\]"):
        load_dataset(tmp_path, ranges={})
