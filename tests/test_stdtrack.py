"""STDTrack as a family: the token propagates (tracking and training), dense clips played
backwards keep boxes and frames aligned, deploy re-parameterises without changing the boxes,
the STM state in tracking, config checks. (Batched == sequential tracking of the stdtrack-cpu-*
presets: tests/test_track_tracker.py::test_batched_equals_sequential_presets.)"""
from dataclasses import replace

import numpy as np
import pytest
import torch

from trackkit.data.sequence import ArrayFrames, Sequence
from trackkit.errors import ConfigError
from trackkit.families import build_model, build_task, build_tracker, get_preset
from trackkit.families.stdtrack import STDTrackConfig, STDTrackTracking, stm_holdings
from trackkit.models.repconv import RepConv
from trackkit.track.runner import track_sequence
from trackkit.track.tracker import ModelTracker
from trackkit.train.sampler import ClipSampler


def _moving_square(n=40, size=160, seed=0):
    """A white rectangle on black that moves and grows every frame (so a frame paired with
    another frame's box is visibly wrong)."""
    rng = np.random.default_rng(seed)
    frames = np.zeros((n, size, size, 3), dtype=np.uint8)
    boxes = np.zeros((n, 4))
    for i in range(n):
        w, h = 14 + (i % 9), 12 + (i % 7)
        x, y = 20 + 2.5 * i + rng.uniform(0, 1), 30 + 1.5 * i
        x, y = x % (size - w - 10), y % (size - h - 10)
        boxes[i] = [x, y, w, h]
        frames[i, int(round(y)):int(round(y + h)), int(round(x)):int(round(x + w))] = 255
    return Sequence("square", ArrayFrames(frames), boxes)


def _bright_box(img: torch.Tensor) -> np.ndarray:
    """x1, y1, w, h (px) of the pixels brighter than the crop's mid-level."""
    lum = img.mean(0)
    ys, xs = torch.nonzero(lum > (lum.max() + lum.min()) / 2, as_tuple=True)
    return np.array([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], dtype=float)


def test_reversed_clips_keep_boxes_and_frames_aligned():
    preset = get_preset("stdtrack-cpu-full", ["model.clip_reverse_prob=1.0", "train.max_sample_interval=30",
                                              "train.center_jitter=0.5", "train.scale_jitter=0.05"])
    task = build_task(preset)
    assert (task.num_search, task.reverse_prob) == (4, 1.0)
    seq = _moving_square()
    sampler = ClipSampler([seq], preset.train, seed=3, num_templates=1, num_search=task.num_search,
                          reverse_prob=task.reverse_prob)
    specs = [sampler(0, i) for i in range(6)]
    assert all(s.reversed and list(s.search_frames) == sorted(s.search_frames, reverse=True) for s in specs)
    assert any(len(set(s.search_frames)) > 1 for s in specs)
    batch = task.make_batch(specs, [[seq.frames[i] for i in s.template_frames] for s in specs],
                            [[seq.frames[i] for i in s.search_frames] for s in specs], "cpu")
    S = preset.track.search_size
    errs, swapped = [], []
    for b, s in enumerate(specs):
        for k in range(task.num_search):
            seen = _bright_box(batch.search[b, k])
            errs.append(np.abs(seen - batch.search_boxes[b, k].numpy() * S).max())
            j = (k + 1) % task.num_search  # another frame's box: must not fit when the frames differ
            if s.search_frames[j] != s.search_frames[k]:
                swapped.append(np.abs(seen - batch.search_boxes[b, j].numpy() * S).max())
    assert max(errs) < 2.5, errs
    assert min(swapped) > 2.5, swapped


def test_token_propagates_through_a_training_clip():
    torch.manual_seed(0)
    preset = get_preset("stdtrack-cpu-full")
    net, task = build_model(preset), build_task(preset)
    seq = _moving_square()
    sampler = ClipSampler([seq], preset.train, seed=0, num_search=task.num_search, reverse_prob=0.5)
    specs = [sampler(0, i) for i in range(2)]
    batch = task.make_batch(specs, [[seq.frames[i] for i in s.template_frames] for s in specs],
                            [[seq.frames[i] for i in s.search_frames] for s in specs], "cpu")
    out = task.forward(net, batch)
    assert torch.equal(out["token_in"][:, 0], net.init_token[:, 0].expand(2, -1))
    for s in range(1, task.num_search):
        assert torch.equal(out["token_in"][:, s], out["token"][:, s - 1])
    total, parts = task.loss(out, batch)
    total.backward()
    assert net.init_token.grad is not None and net.init_token.grad.abs().sum() > 0
    assert net.mfifm.self_attn.q.weight.grad.abs().sum() > 0  # stored tokens feed MFIFM
    assert {"total", "iou", "focal"} <= set(parts)


def test_token_propagates_in_tracking_and_stm_fills():
    torch.manual_seed(0)
    tracker = build_tracker("stdtrack-cpu-full", overrides=["model.stm_capacity=2"])
    seen = []
    tracker.model.backbone.register_forward_pre_hook(
        lambda m, args, kwargs: seen.append(kwargs["extra_tokens"][:, 0].clone()), with_kwargs=True)
    seq = _moving_square(n=5)
    tracker.initialize(seq.frames[0], seq.boxes[0])
    outputs, counts, evicted = [], [], [np.nan]
    for i in range(1, 5):
        tracker.track(seq.frames[i])
        outputs.append(tracker._state["token"].clone())
        counts.append(tracker.last_records["stm_count"])
        evicted.append(tracker.last_records["stm_evicted"])
    assert torch.equal(seen[0], tracker.model.init_token[:, 0])
    for i in range(1, 4):
        assert torch.equal(seen[i], outputs[i - 1])  # frame i+1's input token is frame i's output
    assert counts == [1, 2, 2, 2]
    assert stm_holdings(evicted)[-1] == set(tracker._state["stm_time"][0].tolist())


def test_deploy_reparameterises_and_keeps_the_boxes():
    torch.manual_seed(0)
    preset = get_preset("stdtrack-cpu-full")
    model = build_model(preset)
    for bn in model.modules():  # non-trivial running statistics
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    seq = _moving_square(n=6)
    fused = build_tracker(preset, model=model)
    assert not any(isinstance(m, RepConv) and m.fused is None for m in fused.model.modules())
    assert all(m.fused is None for m in model.modules() if isinstance(m, RepConv))  # deploy copied
    class NoMerge(STDTrackTracking):
        def deploy(self, m):
            return m.eval()

    plain = ModelTracker(model, NoMerge(preset.model), preset.track)
    a, _ = track_sequence(fused, seq)
    b, _ = track_sequence(plain, seq)
    np.testing.assert_allclose(a, b, atol=1e-3)


def test_config_checks():
    with pytest.raises(ConfigError, match="token=True"):
        STDTrackConfig(token=False, mfifm=True)
    with pytest.raises(ConfigError, match="stm_rule"):
        STDTrackConfig(stm_rule="lifo")
    with pytest.raises(ConfigError, match="stm_capacity"):
        replace(get_preset("stdtrack-cpu-full").model, stm_capacity=0)
    base = get_preset("stdtrack-cpu-baseline").model
    assert not (base.token or base.mfifm or base.mask_enhance or base.multiscale_head)
    full = get_preset("stdtrack-full").model
    assert (full.embed_dim, full.depth, full.num_heads, full.template_size, full.search_size) == (192, 12, 12, 128, 256)
    assert (full.stm_capacity, full.stm_rule, full.clip_length, full.clip_reverse_prob) == (6, "quality", 8, 0.5)
    assert get_preset("stdtrack-full").train.max_sample_interval == 200


def test_table3_preset_applies_a_study_budget_and_rejects_unknown_rows():
    from trackkit.families.stdtrack import table3_preset

    p = table3_preset("mask", "cpu", clip_length=3, epochs=10, samples_per_epoch=64, batch_size=8, lr=2e-3)
    assert p.name == "stdtrack-cpu-mask" and p.model.clip_length == 3 and p.model.mfifm and not p.model.multiscale_head
    assert (p.train.epochs, p.train.lr_drop_epoch, p.train.samples_per_epoch, p.train.batch_size, p.train.lr) == \
        (10, 8, 64, 8, 2e-3)
    assert table3_preset("full", "paper").model.embed_dim == 192
    with pytest.raises(ValueError, match="row"):
        table3_preset("everything")
