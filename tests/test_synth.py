"""The procedural benchmark: determinism, GOT-10k layout, pixel-true labels, CLI, in-memory API."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from trackkit.cli import main
from trackkit.data import Sequence
from trackkit.data.synth import (
    PRESETS,
    SynthConfig,
    SynthDataset,
    get_synth_preset,
    make_sequence,
    sequence_name,
    write_split,
)
from trackkit.data.synth_render import SceneFrames, scene_labels
from trackkit.data.synth_scene import Background, Layer, Scene
from trackkit.errors import ConfigError

# small frames keep every test fast; "hard" stages most events
SMALL = PRESETS["hard"].replace(width=96, height=72)
FLAGS = ("occlusion", "full_occlusion", "out_of_view", "partial_out_of_view", "fast_motion", "abrupt_motion",
         "scale_variation", "aspect_ratio_change", "deformation", "illumination", "motion_blur", "camera_motion",
         "distractors", "appearance_change")


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def val_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    write_split(root, "val", 3, 12, seed=5, cfg=SMALL, progress=False)
    return root


# ----------------------------------------------------------------------- determinism
def test_same_arguments_same_bytes(val_root, tmp_path):
    write_split(tmp_path, "val", 3, 12, seed=5, cfg=SMALL, progress=False)
    a, b = tree_bytes(val_root), tree_bytes(tmp_path)
    assert a.keys() == b.keys() and len(a) == 3 * (12 + 5) + 2
    assert a == b


def test_other_seed_or_split_differs(val_root, tmp_path):
    write_split(tmp_path, "val", 3, 12, seed=6, cfg=SMALL, progress=False)
    a, b = tree_bytes(val_root), tree_bytes(tmp_path)
    for name in ("SYN_Val_000001/groundtruth.txt", "SYN_Val_000001/00000001.jpg", "SYN_Val_000002/00000005.jpg"):
        assert a["val/" + name] != b["val/" + name]
    s_train, s_val = make_sequence(SMALL, 5, 0, "train", 12), make_sequence(SMALL, 5, 0, "val", 12)
    assert not np.array_equal(s_train.boxes, s_val.boxes)
    assert not np.array_equal(s_train.frames[0], s_val.frames[0])


def test_frames_render_alone_and_repeatably():
    seq = make_sequence(SMALL, 3, 1, "train", 20)
    later = seq.frames[17]  # first access renders frame 17 without frames 0..16
    all_frames = [seq.frames[i] for i in range(20)]
    fresh = make_sequence(SMALL, 3, 1, "train", 20)
    assert np.array_equal(later, all_frames[17])
    assert np.array_equal(fresh.frames[17], later)
    assert later.shape == (72, 96, 3) and later.dtype == np.uint8
    assert not np.array_equal(all_frames[0], all_frames[17])
    assert np.array_equal(seq.frames[-1], all_frames[19])
    with pytest.raises(IndexError):
        seq.frames[20]
    clone = pickle.loads(pickle.dumps(seq))  # DataLoader workers get the plan, not the textures
    assert clone.frames._tex is None and np.array_equal(clone.frames[17], later)


# -------------------------------------------------------------------- GOT-10k layout
def test_got10k_toolkit_reads_val(val_root):
    from got10k.datasets import GOT10k

    ds = GOT10k(str(val_root), subset="val", return_meta=True)
    assert len(ds) == 3 and ds.seq_names == [sequence_name("val", i) for i in range(3)]
    for i in range(3):
        img_files, anno, meta = ds[i]
        seq = make_sequence(SMALL, 5, i, "val", 12)
        assert [Path(f).name for f in img_files] == [f"{k:08d}.jpg" for k in range(1, 13)]
        assert np.array_equal(anno, seq.boxes)  # disk boxes == in-memory boxes, exactly
        for k in ("cover", "absence", "cut_by_image"):
            assert np.array_equal(meta[k], seq.labels[k])
        assert meta["resolution"] == "(96, 72)"
        for k in ("object_class", "motion_class", "major_class", "root_class", "motion_adverb", "anno_fps"):
            assert meta[k]
        for k in FLAGS:
            assert meta[k] == str(seq.attributes[k])


def test_got10k_toolkit_reads_test_split_with_full_groundtruth(tmp_path):
    from got10k.datasets import GOT10k

    write_split(tmp_path, "test", 2, 5, seed=0, cfg=SMALL, progress=False)
    img_files, anno = GOT10k(str(tmp_path), subset="test")[1]
    assert len(img_files) == 5 and anno.shape == (5, 4)
    assert sequence_name("test", 1) == "SYN_Test_000002" and "SYN_Test_000002" in img_files[0]


def test_in_memory_frames_match_jpeg_up_to_compression(val_root):
    from PIL import Image

    seq = make_sequence(SMALL, 5, 2, "val", 12)
    for i in (0, 11):
        disk = np.asarray(Image.open(val_root / "val" / seq.name / f"{i + 1:08d}.jpg").convert("RGB"))
        diff = np.abs(disk.astype(int) - seq.frames[i].astype(int))
        assert diff.mean() < 12  # JPEG loss only (q=90, small busy frames); another frame differs more
        assert np.abs(disk.astype(int) - seq.frames[5 if i == 0 else 0].astype(int)).mean() > diff.mean()


# --------------------------------------------------------------------------- labels
def _crafted_scene() -> Scene:
    """Flat grey backdrop, a flat red 40x20 rectangle, a flat blue occluder. Frames:
    0 unoccluded, 1 left half under the occluder, 2 fully under it, 3 half outside the image,
    4 fully outside."""
    W, H, K = 120, 80, 5
    target = Layer.static((40.0, 30.0, 40.0, 20.0), K, (255, 0, 0))
    target.boxes[3] = (-20.0, 30.0, 40.0, 20.0)
    target.boxes[4] = (-45.0, 30.0, 40.0, 20.0)
    occ = Layer.static((200.0, 0.0, 30.0, 80.0), K, (0, 0, 255))  # off-screen ...
    occ.boxes[1] = (30.0, 0.0, 30.0, 80.0)  # ... covers x in [40, 60): half the target
    occ.boxes[2] = (35.0, 20.0, 50.0, 40.0)  # ... covers it all
    return Scene(W, H, K, target, Background(np.array([[128, 128, 128]], np.float32)), front=[occ])


def test_cover_matches_pixel_count_on_crafted_scene():
    scene = _crafted_scene()
    lab = scene_labels(scene)
    frames = SceneFrames(scene)
    red = [int((np.all(frames[i] == (255, 0, 0), axis=-1)).sum()) for i in range(5)]
    assert red == [800, 400, 0, 400, 0]
    assert lab["target_pixels"].tolist() == [800] * 5
    assert lab["visible_pixels"].tolist() == red
    assert lab["cover"].tolist() == [8, 4, 0, 4, 0]
    assert lab["absence"].tolist() == [0, 0, 1, 0, 1]
    assert lab["cut_by_image"].tolist() == [0, 0, 0, 1, 1]
    maps = [frames.label_map(i) for i in range(5)]
    assert [int((m == 1).sum()) for m in maps] == red


def test_cover_levels_are_ceil_of_visible_eighths():
    scene = _crafted_scene()
    scene.front[0].boxes[1] = (30.0, 0.0, 11.0, 80.0)  # hides column 40 only: 20 of 800 px
    scene.front[0].boxes[2] = (30.0, 0.0, 15.0, 80.0)  # hides columns 40..44: 100 px, exactly 7/8 left
    lab = scene_labels(scene)
    assert lab["visible_pixels"][1:3].tolist() == [780, 700]
    assert lab["cover"][1:3].tolist() == [8, 7]  # level k: visible ratio in ((k-1)/8, k/8]


def test_groundtruth_is_the_box_clipped_to_the_image():
    for index in range(6):
        seq = make_sequence(SMALL.replace(p_out_of_view=1.0), 2, index, "val", 30)
        full = seq.frames.scene.target.boxes
        W, H = seq.resolution
        b = seq.boxes
        assert (b[:, :2] >= 0).all() and (b[:, 0] + b[:, 2] <= W + 1e-4).all() and (b[:, 1] + b[:, 3] <= H + 1e-4).all()
        inside = seq.labels["cut_by_image"] == 0
        assert np.allclose(b[inside], full[inside], atol=1e-4)  # uncut: the whole box
        x2 = np.clip(full[:, 0] + full[:, 2], 0, W)
        assert np.allclose(b[:, 0] + b[:, 2], x2, atol=2e-4)
        out = seq.labels["absence"] == 1
        gone = (full[:, 0] + full[:, 2] <= 0) | (full[:, 0] >= W) | (full[:, 1] + full[:, 3] <= 0) | (full[:, 1] >= H)
        assert out[gone].all() and (b[gone, 2] * b[gone, 3] == 0).all()  # left the frame: degenerate box
        assert seq.attributes["out_of_view"] == 1 and gone.any()


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31), index=st.integers(0, 10**6), preset=st.sampled_from(["default", "hard"]))
def test_labels_are_consistent(seed, index, preset):
    seq = make_sequence(get_synth_preset(preset).replace(width=80, height=64), seed, index, "train", 16)
    lab = seq.labels
    assert set(lab) == {"cover", "absence", "cut_by_image"}
    assert all(len(v) == 16 for v in lab.values())
    assert ((lab["cover"] >= 0) & (lab["cover"] <= 8)).all()
    assert np.array_equal(lab["absence"] == 1, lab["cover"] == 0)
    assert np.array_equal(seq.visible, lab["cover"] > 0)
    assert (seq.boxes[:, 2:] >= 0).all() and (seq.boxes[lab["absence"] == 0, 2:] > 0).all()
    # labels agree with a pixel count of the drawn masks
    scene, frames = seq.frames.scene, seq.frames
    counts = scene_labels(scene)
    for i in (0, 7, 15):
        visible = int((frames.label_map(i) == 1).sum())
        assert visible == counts["visible_pixels"][i]
        assert lab["cover"][i] == -(-8 * visible // counts["target_pixels"][i])


def test_staged_events_show_in_labels_and_flags():
    cfg = SMALL.replace(p_occlusion=1.0, p_full_occlusion=1.0, n_occluders=(2, 2), p_out_of_view=0.0)
    seqs = [make_sequence(cfg, 0, i, "train", 40) for i in range(6)]
    assert sum(s.attributes["full_occlusion"] for s in seqs) >= 3
    for s in seqs:
        if s.attributes["full_occlusion"]:
            hidden = (s.labels["absence"] == 1) & (s.labels["cut_by_image"] == 0)
            assert hidden.any()
    calm = [make_sequence(PRESETS["clean"].replace(width=96, height=72), 0, i, "train", 40) for i in range(4)]
    for s in calm:
        assert (s.labels["cover"] == 8).all()
        staged = ("occlusion", "out_of_view", "distractors", "motion_blur", "illumination")
        assert not any(s.attributes[k] for k in staged)


# ----------------------------------------------------------------------- attributes
def test_sequence_attributes():
    seq = make_sequence(SynthConfig(width=64, height=48), 1, 4, "test", 8)
    assert isinstance(seq, Sequence) and seq.dataset == "synth" and seq.name == "SYN_Test_000005"
    a = seq.attributes
    assert seq.resolution == (64, 48) and a["resolution"] == (64, 48)
    for k in FLAGS:
        assert a[k] in (0, 1), k
    for k in ("object_class", "motion_class", "major_class", "root_class", "motion_adverb", "anno_fps",
              "speed_px", "size_px", "n_distractors", "n_occluders", "max_blur_px", "seed", "index", "split"):
        assert k in a, k
    assert len(seq) == 8 and seq.boxes.shape == (8, 4) and seq.fully_annotated


def test_synth_dataset_is_lazy_and_matches_make_sequence():
    cfg = SynthConfig(width=64, height=48)
    ds = SynthDataset(cfg, n_sequences=4, n_frames=6, seed=9, split="train")
    assert len(ds) == 4 and ds.names[3] == "SYN_Train_000004"
    assert np.array_equal(ds[2].boxes, make_sequence(cfg, 9, 2, "train", 6).boxes)
    assert ds[-1].name == ds[3].name and [s.name for s in ds[1:3]] == ds.names[1:3]
    assert [s.name for s in ds] == ds.names
    with pytest.raises(IndexError):
        ds[4]


def test_config_validation():
    with pytest.raises(ConfigError, match="p_occlusion"):
        SynthConfig(p_occlusion=1.5)
    with pytest.raises(ConfigError, match="target_size"):
        SynthConfig(target_size=(0.3, 0.1))
    with pytest.raises(ConfigError, match="unknown synth preset"):
        get_synth_preset("nightmare")
    with pytest.raises(ConfigError):
        make_sequence(SynthConfig(), -1, 0)
    with pytest.raises(ConfigError, match="at least 2"):
        make_sequence(SynthConfig(), 0, 0, n_frames=1)


# ----------------------------------------------------------------- CLI and resuming
def test_cli_end_to_end_and_resume(tmp_path, capsys):
    out = tmp_path / "ds"
    args = ["synth", str(out), "--split", "test", "--sequences", "2", "--frames", "4", "--seed", "3",
            "--width", "64", "--height", "48", "--preset", "hard", "--p-occlusion", "1", "--no-progress"]
    assert main(args) == 0
    split = out / "test"
    assert (split / "list.txt").read_text().split() == ["SYN_Test_000001", "SYN_Test_000002"]
    seq_dir = split / "SYN_Test_000002"
    for f in ("00000001.jpg", "00000004.jpg", "groundtruth.txt", "absence.label", "cover.label",
              "cut_by_image.label", "meta_info.ini"):
        assert (seq_dir / f).is_file(), f
    assert not list(split.rglob("*.tmp"))
    gt = np.loadtxt(seq_dir / "groundtruth.txt", delimiter=",")
    cfg = PRESETS["hard"].replace(width=64, height=48, p_occlusion=1.0)
    assert np.array_equal(gt, make_sequence(cfg, 3, 1, "test", 4).boxes)
    before = tree_bytes(out)

    # an interrupted run: a sequence without its completion marker and a frame is redone
    (seq_dir / "meta_info.ini").unlink()
    (seq_dir / "00000003.jpg").unlink()
    assert main(args) == 0
    assert tree_bytes(out) == before

    # other settings into the same folder are refused, and bad knobs are clean errors
    assert main(args[:-1] + ["--seed", "4", "--no-progress"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert main(args + ["--p-fast", "2"]) == 2
    assert "p_fast" in capsys.readouterr().err
    assert main(args[:-1] + ["--seed", "4", "--overwrite", "--no-progress"]) == 0
    assert tree_bytes(out) != before


def test_parallel_writers_give_the_same_bytes(val_root, tmp_path):
    write_split(tmp_path, "val", 3, 12, seed=5, cfg=SMALL, progress=False, workers=2)
    assert tree_bytes(tmp_path) == tree_bytes(val_root)
