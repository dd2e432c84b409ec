"""trackkit.study.shared.cached_frames: rendered once, the same sequences as the lazy ones."""
import numpy as np
import torch

from trackkit.families import get_preset
from trackkit.families.recipes import train_preset
from trackkit.study.shared import SyntheticData, cached_frames, cached_training

DATA = SyntheticData("easy", 3, 12)


def test_cached_frames_equal_the_rendered_ones(tmp_path):
    lazy = list(DATA.load(5))
    cached = cached_frames(tmp_path, DATA, 5, progress=False, log=None)
    assert [s.name for s in cached] == [s.name for s in lazy]
    for a, b in zip(lazy, cached):
        assert len(a) == len(b)
        np.testing.assert_array_equal(a.boxes, b.boxes)
        assert a.attributes == b.attributes
        assert a.labels.keys() == b.labels.keys()
        for k in a.labels:
            np.testing.assert_array_equal(a.labels[k], b.labels[k])
        for i in (0, len(a) // 2, len(a) - 1):
            f = b.frame(i)
            assert f.dtype == np.uint8 and f.shape == a.frame(i).shape
            np.testing.assert_array_equal(f, a.frame(i))


def test_rendered_once_and_keyed_by_data_and_seed(tmp_path, monkeypatch):
    cached_frames(tmp_path, DATA, 0, progress=False, log=None)
    folders = sorted((tmp_path / "frames").iterdir())
    assert len([f for f in folders if f.is_dir()]) == 1
    # a second call renders nothing: rendering would go through SceneFrames.render
    from trackkit.data import synth_render

    def fail(*a, **k):
        raise AssertionError("rendered again")

    monkeypatch.setattr(synth_render.SceneFrames, "render", fail)
    again = cached_frames(tmp_path, DATA, 0, progress=False, log=None)
    assert again[1].frame(3).shape == (240, 320, 3)
    monkeypatch.undo()
    cached_frames(tmp_path, DATA, 1, progress=False, log=None)  # another seed: another folder
    cached_frames(tmp_path, SyntheticData("easy", 3, 12, split="test"), 0, progress=False, log=None)
    assert len([f for f in (tmp_path / "frames").iterdir() if f.is_dir()]) == 3


def test_an_interrupted_build_keeps_finished_sequences(tmp_path, monkeypatch):
    from trackkit.data import synth_render

    calls = {"n": 0}
    render = synth_render.SceneFrames.render

    def flaky(self, i):
        calls["n"] += 1
        if calls["n"] > 12 + 5:  # the first sequence (12 frames) finishes, the second breaks
            raise KeyboardInterrupt
        return render(self, i)

    monkeypatch.setattr(synth_render.SceneFrames, "render", flaky)
    try:
        cached_frames(tmp_path, DATA, 0, progress=False, log=None)
    except KeyboardInterrupt:
        pass
    (folder,) = [f for f in (tmp_path / "frames").iterdir() if f.is_dir()]
    assert sorted(p.name for p in folder.glob("*.npy")) == ["00000.npy"]  # no half-written file
    calls["n"] = -10**9
    seqs = cached_frames(tmp_path, DATA, 0, progress=False, log=None)
    np.testing.assert_array_equal(seqs[1].frame(4), list(DATA.load(0))[1].frame(4))


def test_training_from_cached_frames_equals_training_from_lazy_ones(tmp_path):
    preset = get_preset("ostrack-cpu", ["train.epochs=1", "train.samples_per_epoch=16", "train.batch_size=8",
                                        "train.num_workers=0", "model.ce_loc=()"])
    data = SyntheticData("easy", 2, 24)  # the sampler wants >= 20 frames
    torch.manual_seed(0)
    train_preset(preset, data.load(0), tmp_path / "lazy", seed=0, progress=False)
    w = cached_training(tmp_path / "cache", preset, data=data, seed=0, progress=False, log=None)
    a = torch.load(tmp_path / "lazy" / "model.pth", weights_only=False)
    b = torch.load(w.path, weights_only=False)
    sa, sb = (x["model"] if "model" in x else x for x in (a, b))
    assert sa.keys() == sb.keys()
    for k in sa:
        if torch.is_tensor(sa[k]):
            assert torch.equal(sa[k], sb[k]), k


def test_npy_frames_pickle_as_their_path_and_name_a_bad_file(tmp_path):
    import pickle

    import pytest

    from trackkit.data.sequence import NpyFrames
    from trackkit.errors import DataError

    seqs = cached_frames(tmp_path, DATA, 0, progress=False, log=None)
    src = seqs[0].frames
    src[0]  # mapped now
    blob = pickle.dumps(src)
    assert len(blob) < 1000  # the path, not 12 frames of 230 kB
    np.testing.assert_array_equal(pickle.loads(blob)[2], src[2])
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not an array")
    with pytest.raises(DataError, match="bad.npy"):
        NpyFrames(bad)[0]
    np.save(tmp_path / "floats.npy", np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(DataError, match="uint8"):
        len(NpyFrames(tmp_path / "floats.npy"))
    with pytest.raises(DataError, match="missing"):
        NpyFrames(tmp_path / "absent.npy")[0]
