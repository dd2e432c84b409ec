"""SeqTrack / FastSeqTrack family: config checks, training steps, tracking, exits, profile."""
import numpy as np
import pytest
import torch

from trackkit.data.sequence import ArrayFrames, Sequence
from trackkit.errors import ConfigError
from trackkit.families import build_model, build_task, build_tracker, get_preset
from trackkit.families.seqtrack import SeqTrackConfig, box_targets, profile_parts
from trackkit.track.runner import track_sequence
from trackkit.train.sampler import ClipFrames, ClipSampler, collate_clips

CPU = ["seqtrack-cpu", "fastseqtrack-cpu"]


def moving_square(n=3, frames=12, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        imgs, boxes = [], []
        x, y = 60.0 + 5 * k, 50.0
        for _ in range(frames):
            img = rng.integers(0, 40, (160, 180, 3), dtype=np.uint8)
            x, y = x + rng.uniform(-2, 2), y + rng.uniform(-2, 2)
            img[int(y):int(y) + 24, int(x):int(x) + 20] = (230, 200, 50)
            imgs.append(img)
            boxes.append([int(x), int(y), 20, 24])
        out.append(Sequence(f"s{k}", ArrayFrames(imgs), np.array(boxes, float), dataset="test"))
    return out


def test_config_problems_are_named():
    with pytest.raises(ConfigError, match="exits apply to one-pass"):
        SeqTrackConfig(exits="shared")
    with pytest.raises(ConfigError, match="confidence='max'"):
        SeqTrackConfig(confidence="max")
    with pytest.raises(ConfigError, match="candidate elimination"):
        SeqTrackConfig(ce_loc=(3,))
    with pytest.raises(ConfigError, match="queries='encoder' needs"):
        get_preset("seqtrack-cpu", ["model.queries=encoder"])


def test_box_targets_clamp_then_centre():
    t = box_targets(torch.tensor([[-0.1, 0.2, 0.4, 0.2]]))  # x1 < 0: clamped before cx is taken
    torch.testing.assert_close(t, torch.tensor([[0.15, 0.3, 0.3, 0.2]]))


def one_batch(preset, task, n=8):
    ds = ClipFrames(ClipSampler(moving_square(frames=24), preset.train, seed=0, num_templates=task.num_templates,
                                num_search=task.num_search))
    return task.make_batch(*collate_clips([ds[(0, i)] for i in range(n)]), "cpu")


@pytest.mark.parametrize("name", CPU)
def test_cpu_presets_train_a_few_steps(name):
    torch.manual_seed(0)
    preset = get_preset(name)
    model, task = build_model(preset), build_task(preset)
    batch = one_batch(preset, task)
    assert batch.templates.shape[1] == 2  # initial + dynamic template
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    model.train()
    for _ in range(8):
        loss, parts = task.loss(task.forward(model, batch), batch)
        assert set(parts) >= {"total", "iou", "ce", "giou"}
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(parts["total"])
    assert losses[-1] < 0.95 * losses[0] and losses[-1] == min(losses), losses
    out = task.forward(model, batch)
    if preset.model.exits == "shared":  # one word head serves the three exits
        assert len(out["logits"]) == 3 and len(model.heads) == 1
        assert all(l.shape == (8, 4, 130) for l in out["logits"])
    else:
        assert len(out["logits"]) == 1 and out["logits"][0].shape == (8, 5, 130)  # + END


def test_independent_exits_have_their_own_heads():
    model = build_model(get_preset("fastseqtrack-cpu", ["model.exits=independent"]))
    heads = model.exit_heads()
    assert len(heads) == 3 and len({id(h) for h in heads}) == 3
    shared = build_model(get_preset("fastseqtrack-cpu")).exit_heads()
    assert len({id(h) for h in shared}) == 1


def _track(name, overrides=(), frames=8):
    torch.manual_seed(0)
    tracker = build_tracker(name, overrides=list(overrides))
    seq = moving_square(1, frames, seed=3)[0]
    records = {}
    boxes = track_sequence(tracker, seq, records)[0]
    return tracker, boxes, records


@pytest.mark.parametrize("name", CPU)
def test_cpu_presets_track(name):
    _, boxes, rec = _track(name)
    assert boxes.shape == (8, 4) and np.isfinite(boxes).all()
    assert {"exit", "confidence", "template_updated"} <= set(rec)
    assert "decoder_ms" not in rec  # off by default (times differ between batched and sequential runs)
    _, _, rec = _track(name, ["model.record_decoder_time=true"], frames=3)
    assert (np.asarray(rec["decoder_ms"][1:]) > 0).all()


def test_tau_sweeps_the_exit_depth():
    _, full, rec_full = _track("fastseqtrack-cpu", ["model.tau=inf"])
    assert set(np.asarray(rec_full["exit"][1:]).tolist()) == {2.0}
    _, first, rec_first = _track("fastseqtrack-cpu", ["model.tau=-inf"])
    assert set(np.asarray(rec_first["exit"][1:]).tolist()) == {0.0}
    _, last, _ = _track("fastseqtrack-cpu", ["model.exits=last"])
    # the same weights (same seed): full depth through shared exits = reading only after the last layer
    assert np.array_equal(full, last)


def test_kv_cache_tracks_like_seqtracks_prefix_rerun():
    _, a, ra = _track("seqtrack-cpu", ["model.kv_cache=false"])
    _, b, rb = _track("seqtrack-cpu", ["model.kv_cache=true"])
    np.testing.assert_allclose(a, b, atol=1e-3)
    np.testing.assert_allclose(ra["confidence"][1:], rb["confidence"][1:], rtol=1e-4)


def test_dynamic_template_follows_the_threshold():
    trk, _, rec = _track("seqtrack-cpu", ["model.update_threshold=-1"], frames=4)
    assert np.asarray(rec["template_updated"][1:]).tolist() == [1.0, 1.0, 1.0]
    t = trk._state["templates"]
    assert not torch.equal(t[:, 0], t[:, 1])  # the first template stays, the dynamic one moved
    trk, _, rec = _track("seqtrack-cpu", ["model.update_threshold=inf"], frames=4)
    assert np.asarray(rec["template_updated"][1:]).tolist() == [0.0, 0.0, 0.0]
    t = trk._state["templates"]
    assert torch.equal(t[:, 0], t[:, 1])


@pytest.mark.parametrize("name", CPU)
def test_profile_parts_count_as_table1(name):
    r = profile_parts(name)
    m = build_model(name)
    counted = lambda mod: sum(p.numel() for p in mod.parameters())
    bb = m.backbone  # thop counts modules that ran: not the position embeddings or tokens
    enc = counted(bb.patch_embed) + counted(bb.blocks) + counted(bb.norm)
    assert r["encoder_params_M"] * 1e6 == enc
    dec = counted(m.bottleneck) + counted(m.decoder) + counted(m.heads[0])
    if name == "seqtrack-cpu":
        dec += counted(m.embed_norm)  # the word table is an embedding: not counted, as in Table 1
    assert r["decoder_params_M"] * 1e6 == dec
    assert r["overall_params_M"] == pytest.approx(r["encoder_params_M"] + r["decoder_params_M"])


def test_pretrained_cpu_backbone_loads(tmp_path):
    from trackkit.pretrain import PretrainConfig, pretrain_preset
    from trackkit.pretrain import WEIGHTS

    cfg = PretrainConfig(epochs=1, samples_per_epoch=16, batch_size=16, synth_frames_per_scene=1,
                         synth_crops_per_frame=16, num_workers=0)
    pretrain_preset(get_preset("ostrack-cpu"), cfg, tmp_path, progress=False)
    path = tmp_path / WEIGHTS
    sd = torch.load(path, weights_only=True)["model"]
    for name in CPU:
        bb = build_model(get_preset(name, [f"model.pretrained={path}"])).backbone
        for k, v in bb.state_dict().items():
            if k.startswith(("blocks.", "norm.", "patch_embed.")):
                assert torch.equal(v, sd[k]), k


@pytest.mark.parametrize("name", CPU)
def test_trackkit_profile_runs_the_tracking_forward(name):
    from trackkit.families import profile_preset

    r = profile_preset(name, latency=False)
    assert r["macs"] > 0 and r["flops"] > 0
    assert r["parts"]["encoder_GMACs"] * 1e9 < r["macs"]  # the whole tracking forward counts the decoder too
    model = build_model(name).eval()
    z, x = torch.randn(1, 3, 64, 64), torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        out = model(z, x, torch.tensor([[0.25, 0.25, 0.5, 0.5]]))  # the generic profile call
        assert out["boxes"].shape == (1, 4)
        assert torch.equal(out["words"], model.track(torch.stack([z, z], 1), x)["words"])
