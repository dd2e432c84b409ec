"""ACTrack family: frozen backbone, zero-initialised additive net, box-history tokens, sequence head.

Batched = sequential tracking for actrack-cpu is the family-generic
tests/test_track_tracker.py::test_batched_equals_sequential_presets."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from trackkit.errors import ConfigError, DataError
from trackkit.families import build_model, build_tracker, get_preset, save_model, train_preset
from trackkit.families.actrack import ACTrack, synth_history
from trackkit.study.shared import SyntheticData
from trackkit.train.checkpoint import load_checkpoint

TINY = ["train.epochs=1", "train.samples_per_epoch=8", "train.batch_size=4", "train.num_workers=0"]


def _inputs(b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    z, x = torch.randn(b, 3, 64, 64, generator=g), torch.randn(b, 3, 128, 128, generator=g)
    hist = torch.rand(b, 4, 4, generator=g) * 0.5
    hist[..., 2:] += hist[..., :2] + 0.1  # x1, y1, x2, y2
    target = torch.tensor([[0.35, 0.4, 0.6, 0.7]]).repeat(b, 1)
    return z, x, hist, target


def _model(overrides=()):
    torch.manual_seed(0)
    return build_model(get_preset("actrack-cpu", list(overrides)))


def test_frozen_backbone_is_bit_identical_after_training_and_has_no_optimizer_state(tmp_path):
    preset = get_preset("actrack-cpu", TINY)
    model = _model(TINY)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_preset(preset, SyntheticData("easy", 2, 20).load(0), tmp_path, model=model, progress=False)
    after = model.state_dict()
    for k, v in before.items():
        same = torch.equal(v, after[k])
        assert same if k.startswith("backbone.") else True, k
    changed = [k for k, v in before.items() if not k.startswith("backbone.") and not torch.equal(v, after[k])]
    assert any(k.startswith("side.zero_") for k in changed) and any(k.startswith("seq_head.") for k in changed)
    opt = load_checkpoint(tmp_path / "checkpoint.pth")["optimizer"]
    state_numel = sum(s["exp_avg"].numel() for s in opt["state"].values())
    trainable = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("backbone."))
    assert state_numel == trainable  # every side / head parameter, no backbone parameter
    assert [g["name"] for g in opt["param_groups"]] == ["head"]


@pytest.mark.parametrize("overrides", [(), ("model.inject_blocks=1,3", "model.side_match=false")])
def test_at_initialisation_outputs_equal_the_frozen_models_exactly(overrides):
    model = _model(overrides).eval()
    frozen = ACTrack(model.backbone, None, model.seq_head, model.cfg).eval()  # same weights, no additive net
    z, x, hist, target = _inputs()
    with torch.no_grad():
        a, b = model(z, x, history=hist), frozen(z, x, history=hist)
        assert torch.equal(a["search"], b["search"]) and torch.equal(a["boxes"], b["boxes"])
        assert torch.equal(model(z, x, history=hist, target=target)["logits"],
                           frozen(z, x, history=hist, target=target)["logits"])
        # the check can fail: a non-zero projection changes the features
        torch.nn.init.normal_(next(iter(model.side.zero_x.values())).weight, std=0.1)
        assert not torch.equal(model(z, x, history=hist)["search"], b["search"])


def _grads(model, overrides_target=True):
    z, x, hist, target = _inputs()
    model.train()
    out = model(z, x, history=hist, target=target)
    (out["logits"].logsumexp(-1).sum() + out["boxes"].sum()).backward()
    return {n: p.grad for n, p in model.named_parameters()}


def test_gradients_reach_only_the_trainable_parts():
    g = _grads(_model())
    assert all(v is None for n, v in g.items() if n.startswith("backbone."))
    assert all(v is not None for n, v in g.items() if not n.startswith("backbone."))
    # zero projections get a gradient (their input is not zero), and so does the history embedding
    assert all(g[n].abs().sum() > 0 for n in g if n.startswith("side.zero_") and n.endswith("weight"))
    assert g["seq_head.history_pos"].abs().sum() > 0
    g = _grads(_model(["model.trainable=last:1"]))
    assert all((v is not None) == (n.startswith(("backbone.blocks.3.", "backbone.norm.")) or
                                   not n.startswith("backbone.")) for n, v in g.items()), \
        [n for n, v in g.items() if v is None]


def _grad_modes(model):
    seen = {}
    for i, blk in enumerate(model.backbone.blocks):
        blk.register_forward_pre_hook(lambda m, a, i=i: seen.__setitem__(i, torch.is_grad_enabled()))
    z, x, hist, target = _inputs()
    out = model.train()(z, x, history=hist, target=target)
    return [seen[i] for i in range(len(seen))], out


def test_backbone_runs_without_autograd_until_something_trainable_enters():
    modes, out = _grad_modes(_model(["model.history=0", "model.side_channels=0"]))  # head only
    assert modes == [False] * 4 and not out["search"].requires_grad
    modes, _ = _grad_modes(_model(["model.history=0", "model.inject_blocks=2"]))  # injection after block 2
    assert modes == [False, False, False, True]
    modes, _ = _grad_modes(_model(["model.history=0", "model.side_channels=0", "model.trainable=last:2"]))
    assert modes == [False, False, True, True]
    modes, _ = _grad_modes(_model())  # trainable history tokens enter at the input
    assert modes == [True] * 4
    assert torch.is_grad_enabled()


def test_history_tokens_enter_in_the_documented_order(monkeypatch):
    model = _model().eval()
    head = model.seq_head
    z, x, hist, _ = _inputs(b=1)
    seen = {}
    forward = model.backbone.forward

    def spy(*a, **kw):
        seen["extra"] = kw["extra_tokens"]
        return forward(*a, **kw)

    monkeypatch.setattr(model.backbone, "forward", spy)
    with torch.no_grad():
        model(z, x, history=hist)
        lo, span, n = -(model.cfg.coord_range - 1) / 2, model.cfg.coord_range, model.cfg.bins
        for j in range(4):  # frame j (oldest first), coordinate c = x1, y1, x2, y2
            for c in range(4):
                b = min(max(round((float(hist[0, j, c]) - lo) / span * (n - 1)), 0), n - 1)
                expected = head.word.weight[b] + head.history_pos[0, 4 * j + c]
                assert torch.equal(seen["extra"][0, 4 * j + c], expected), (j, c)


def test_quantisation_round_trips_within_half_a_bin():
    head = _model().seq_head
    u = torch.linspace(-0.5, 1.5, 97)
    back = head.centres(torch.float32, "cpu")[head.quantise(u)]
    assert (back - u).abs().max() <= head.span / (head.bins - 1) / 2 + 1e-6
    assert head.quantise(torch.tensor([-3.0, 5.0])).tolist() == [0, head.bins - 1]


def test_tracking_state_rolls_the_box_history():
    torch.manual_seed(0)
    seq = SyntheticData("easy", 1, 6, "test").load(0)[0]
    tracker = build_tracker("actrack-cpu")
    tracker.initialize(seq.frames[0], seq.boxes[0])
    assert np.array_equal(tracker._state["history"][0], np.repeat(seq.boxes[:1], 4, 0))
    boxes = [tracker.track(seq.frames[i]) for i in (1, 2)]
    h = tracker._state["history"][0]
    assert np.array_equal(h[:2], np.repeat(seq.boxes[:1], 2, 0))
    assert np.array_equal(h[2], boxes[0]) and np.array_equal(h[3], boxes[1])
    assert "score" in tracker.last_records


def test_training_history_ends_at_the_search_crop_box_and_is_deterministic():
    from trackkit.train.sampler import ClipSampler

    preset = get_preset("actrack-cpu")
    spec = ClipSampler(SyntheticData("easy", 2, 20).load(0), preset.train, seed=0)(0, 3)
    h = synth_history(spec, 4, 0.1, 0.05)
    np.testing.assert_allclose(h[-1], spec.search_extract[-1])
    assert np.array_equal(h, synth_history(spec, 4, 0.1, 0.05))
    assert not np.allclose(h[0], h[-1])


def test_tracker_backbone_loads_exactly_and_misfits_are_named(tmp_path):
    torch.manual_seed(1)
    ost = get_preset("ostrack-cpu-noce")
    tracker_model = build_model(ost)
    save_model(tmp_path / "ost.pth", tracker_model, ost)
    model = _model([f"model.init_tracker={tmp_path / 'ost.pth'}"])
    for k, v in tracker_model.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[k], v), k
    assert not any(p.requires_grad for p in model.backbone.parameters())
    sim = get_preset("simtrack-cpu")
    save_model(tmp_path / "sim.pth", build_model(sim), sim)
    with pytest.raises(DataError, match="does not fit"):
        _model([f"model.init_tracker={tmp_path / 'sim.pth'}"])


def test_bad_settings_are_named():
    with pytest.raises(ConfigError, match="inject_blocks"):
        get_preset("actrack-cpu", ["model.inject_blocks=7"])
    with pytest.raises(ConfigError, match="focal_weight"):
        from trackkit.families import build_task
        build_task(get_preset("actrack-cpu", ["train.focal_weight=1"]))
