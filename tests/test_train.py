"""Clip sampler, batched crops/augmentation, schedules, the generic trainer with a family task,
checkpoint/resume and DDP sync, with a tiny fake model that has the trackkit model interface."""
import json
import math
import os

import numpy as np
import pytest
import torch
from torch import nn

from trackkit.data.sequence import ArrayFrames, Sequence
from trackkit.errors import ConfigError
from types import SimpleNamespace

from trackkit.crop import TrackConfig
from trackkit.families.ostrack import OSTrackTask
from trackkit.train.augment import make_batch
from trackkit.train.config import TrainConfig
from trackkit.train.sampler import ClipFrames, ClipSampler, ShardedBatchSampler, collate_clips, jitter_box
from trackkit.train.schedule import build_optimizer, build_scheduler, keep_rate
from trackkit.train.task import OneStreamPairTask
from trackkit.train.trainer import train as train_task

TRACK = TrackConfig(template_size=32, template_factor=2.0, search_size=64, search_factor=4.0)


def make_sequences(n=3, frames=24, size=96, seed=0, absent=()):
    """White-ish square moving over a dark textured background."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        imgs, boxes = [], []
        x, y = 30.0 + 5 * k, 35.0
        for i in range(frames):
            img = rng.integers(0, 40, (size, size + 8 * k, 3), dtype=np.uint8)
            x, y = x + rng.uniform(-1.5, 1.5), y + rng.uniform(-1.5, 1.5)
            img[int(y):int(y) + 14, int(x):int(x) + 14] = (230, 200, 50)
            imgs.append(img)
            boxes.append([int(x), int(y), 14, 14])
        labels = {"absence": np.isin(np.arange(frames), absent).astype(np.int64)}
        out.append(Sequence(f"s{k}", ArrayFrames(imgs), np.array(boxes, float), labels, dataset="test"))
    return out


class TinyTracker(nn.Module):
    """Stride-16 conv 'backbone' + centre-style head: the trackkit model interface in miniature."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 16, 16), nn.GELU())
        self.box_head = nn.Sequential(nn.Conv2d(16, 16, 1), nn.BatchNorm2d(16), nn.ReLU(), nn.Dropout(0.2),
                                      nn.Conv2d(16, 5, 1))
        self.keep_rates = []

    def forward(self, template, search, template_box=None, keep_rate=None):
        self.keep_rates.append(keep_rate)
        z = self.backbone(template).mean((2, 3), keepdim=True)
        x = self.backbone(search)
        m = self.box_head(torch.cat([x, x * z], 1))
        score = torch.sigmoid(m[:, :1]).clamp(1e-4, 1 - 1e-4)
        size, off = torch.sigmoid(m[:, 1:3]), torch.sigmoid(m[:, 3:5])
        b, _, f, _ = score.shape
        idx = score.flatten(1).argmax(1)
        iy, ix = idx // f, idx % f
        ar = torch.arange(b)
        cx = (ix + off[ar, 0, iy, ix]) / f
        cy = (iy + off[ar, 1, iy, ix]) / f
        boxes = torch.stack([cx, cy, size[ar, 0, iy, ix], size[ar, 1, iy, ix]], 1)
        return {"boxes": boxes, "score_map": score, "size_map": size, "offset_map": off}


def train(model, seqs, *, cfg, track, keep_ratio=None, **kw):
    """The generic trainer with OSTrack's task (CE keep-rate schedule towards ``keep_ratio``)."""
    preset = SimpleNamespace(model=SimpleNamespace(ce_loc=(1,) if keep_ratio else (), keep_ratios=(keep_ratio,)),
                             train=cfg, track=track)
    return train_task(model, OSTrackTask(preset), seqs, cfg=cfg, **kw)


def small_cfg(**kw):
    base = dict(epochs=2, samples_per_epoch=16, batch_size=4, lr=1e-3, lr_drop_epoch=1,
                ce_start_epoch=1, ce_warm_epochs=2, max_sample_interval=5)
    base.update(kw)
    return TrainConfig(**base)


# -- sampler -------------------------------------------------------------------------------
def test_sampler_is_deterministic_and_causal():
    seqs = make_sequences(absent=(3, 4, 5, 10))
    cfg = small_cfg()
    a, b = ClipSampler(seqs, cfg, seed=1), ClipSampler(seqs, cfg, seed=1)
    specs = [a(0, i) for i in range(200)]
    for i, s in enumerate(specs[:20]):
        t = b(0, i)
        assert (s.seq, s.template_frames, s.search_frames) == (t.seq, t.template_frames, t.search_frames)
        assert np.array_equal(s.search_extract, t.search_extract) and s.bright_search == t.bright_search
    for s in specs:
        (z,), (x,) = s.template_frames, s.search_frames
        assert z < x < z + cfg.max_sample_interval
        assert z not in (3, 4, 5, 10) and x not in (3, 4, 5, 10)
    other = [ClipSampler(seqs, cfg, seed=2)(0, i).search_frames for i in range(50)]
    assert other != [s.search_frames for s in specs[:50]]
    assert [a(1, i).search_frames for i in range(50)] != [s.search_frames for s in specs[:50]]
    # flips and grayscale follow their probabilities roughly
    assert 0.3 < np.mean([s.flip_search[0] for s in specs]) < 0.7
    assert all(0.8 <= s.bright_templates[0] <= 1.2 for s in specs)


def test_pair_stream_is_the_pre_clip_stream():
    """T = S = 1 draws in the order pair sampling always did (sequence, template, search, jitter,
    grayscale, flips, brightness), re-derived here draw by draw, so trained pair networks and
    study caches keep their numbers."""
    seqs = make_sequences(absent=(3, 4, 5, 10))
    cfg = small_cfg(max_sample_interval=5, grayscale_prob=0.3)
    sampler = ClipSampler(seqs, cfg, seed=7)
    for i in range(30):
        got = sampler(2, i)
        rng = np.random.default_rng([7, 2, i])
        while True:
            k = sampler.usable[int(rng.integers(len(sampler.usable)))]
            vis = sampler.visible(k)
            gap, t, x = 0, None, None
            while True:
                ids = np.flatnonzero(vis[:len(vis) - 1])
                t = int(ids[rng.integers(len(ids))]) if len(ids) else None
                if t is not None:
                    hi = min(len(vis), t + cfg.max_sample_interval + gap)
                    ids = np.flatnonzero(vis[t + 1:hi]) + t + 1
                    x = int(ids[rng.integers(len(ids))]) if len(ids) else None
                if x is not None:
                    break
                gap += 5
            break
        ext = jitter_box(rng, seqs[k].boxes[x], cfg.center_jitter, cfg.scale_jitter)
        gray, ft, fx = rng.random() < cfg.grayscale_prob, rng.random() < cfg.flip_prob, rng.random() < cfg.flip_prob
        bt, bx = rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2)
        assert (got.seq, got.template_frames, got.search_frames) == (k, (t,), (x,))
        assert np.array_equal(got.search_extract[0], ext) and got.gray == gray
        assert (got.flip_templates, got.flip_search, got.bright_templates, got.bright_search) == ((ft,), (fx,), (bt,), (bx,))


def test_clips_keep_frames_in_time_order():
    seqs = make_sequences(frames=40, absent=(7, 8))
    cfg = small_cfg(max_sample_interval=10)
    sampler = ClipSampler(seqs, cfg, seed=3, num_templates=2, num_search=4)
    for i in range(40):
        c = sampler(0, i)
        assert len(c.template_frames) == 2 and len(c.search_frames) == 4
        assert list(c.template_frames) == sorted(c.template_frames) and list(c.search_frames) == sorted(c.search_frames)
        assert c.template_frames[-1] < c.search_frames[0]  # causal: every search frame after the base template
        assert c.search_extract.shape == (4, 4) and len(c.flip_search) == len(c.bright_search) == 4
        assert np.array_equal(c.search_boxes, seqs[c.seq].boxes[list(c.search_frames)])
        assert not set(c.template_frames + c.search_frames) & {7, 8}
    ds = ClipFrames(sampler)
    specs, zs, xs = collate_clips([ds[(0, i)] for i in range(3)])
    b = make_batch(specs, zs, xs, TRACK)
    assert b.templates.shape == (3, 2, 3, 32, 32) and b.search.shape == (3, 4, 3, 64, 64)
    assert b.template_boxes.shape == (3, 2, 4) and b.search_boxes.shape == (3, 4, 4)
    # frame j of clip i is the crop of that frame alone (no mixing across the clip layout)
    one = make_batch([specs[1]], [zs[1]], [xs[1]], TRACK)
    assert torch.equal(one.search[0], b.search[1]) and torch.equal(one.search_boxes[0], b.search_boxes[1])


def test_reversed_clips_play_the_same_frames_backwards():
    seqs = make_sequences(frames=40)
    cfg = small_cfg(max_sample_interval=12)
    fwd = ClipSampler(seqs, cfg, seed=5, num_search=8)
    rev = ClipSampler(seqs, cfg, seed=5, num_search=8, reverse_prob=0.5)
    flags = []
    for i in range(60):
        a, b = fwd(0, i), rev(0, i)
        flags.append(b.reversed)
        order = slice(None, None, -1) if b.reversed else slice(None)
        assert b.search_frames == a.search_frames[order] and b.template_frames == a.template_frames
        assert np.array_equal(b.search_extract, a.search_extract[order])
        assert np.array_equal(b.search_boxes, seqs[b.seq].boxes[list(b.search_frames)])
        assert b.flip_search == a.flip_search[order] and b.bright_search == a.bright_search[order]
    assert 0.25 < np.mean(flags) < 0.75


def test_sampler_rejects_unusable_sequences():
    short = make_sequences(frames=10)
    with pytest.raises(ConfigError, match="no usable training sequence"):
        ClipSampler(short, small_cfg())


def test_jitter_matches_ostrack_formula():
    box = np.array([10.0, 20.0, 30.0, 40.0])
    assert np.allclose(jitter_box(np.random.default_rng(0), box, 0.0, 0.0), box)
    rng, ref = np.random.default_rng(5), np.random.default_rng(5)
    j = jitter_box(rng, box, 3.0, 0.25)
    size = box[2:] * np.exp(ref.standard_normal(2) * 0.25)
    centre = box[:2] + box[2:] / 2 + math.sqrt(size.prod()) * 3.0 * (ref.random(2) - 0.5)
    assert np.allclose(j, np.r_[centre - size / 2, size])


def test_sharded_batches_partition_the_stream():
    one = ShardedBatchSampler(40, 4, 0, 1)
    r0, r1 = ShardedBatchSampler(40, 2, 0, 2), ShardedBatchSampler(40, 2, 1, 2)
    for s in (one, r0, r1):
        s.set_epoch(3)
    flat = lambda s: [k for b in s for k in b]
    assert len(r0) == len(r1) == len(one) == 10
    assert set(flat(r0)).isdisjoint(flat(r1))
    assert sorted(flat(r0) + flat(r1)) == sorted(flat(one))
    assert all(e == 3 for e, _ in flat(one))
    with pytest.raises(ConfigError):
        ShardedBatchSampler(3, 4)


# -- crops and augmentation ----------------------------------------------------------------
def _batch(cfg, n=8, seed=0):
    seqs = make_sequences()
    ds = ClipFrames(ClipSampler(seqs, cfg, seed=seed))
    return collate_clips([ds[(0, i)] for i in range(n)])


def test_crop_boxes_land_on_the_target():
    cfg = small_cfg(center_jitter=0.0, scale_jitter=0.0, grayscale_prob=0.0, flip_prob=0.0, brightness_jitter=0.0)
    specs, zs, xs = _batch(cfg)
    b = make_batch(specs, zs, xs, TRACK)
    b = SimpleNamespace(template=b.templates[:, 0], search=b.search[:, 0], template_box=b.template_boxes[:, 0],
                        search_box=b.search_boxes[:, 0])
    assert b.template.shape == (8, 3, 32, 32) and b.search.shape == (8, 3, 64, 64)
    # no jitter: the target sits in the middle with side 1/factor of the crop
    assert torch.allclose(b.template_box[:, 2:], torch.full((8, 2), 0.5))
    assert torch.allclose(b.search_box[:, 2:], torch.full((8, 2), 0.25))
    assert torch.allclose(b.search_box[:, :2] + b.search_box[:, 2:] / 2, torch.full((8, 2), 31.5 / 64))
    # the bright target pixels lie inside the box (red channel is high only on the target)
    red = b.search[:, 0] * TRACK.std[0] + TRACK.mean[0]
    for k in range(8):
        x1, y1, w, h = (b.search_box[k] * 64).tolist()
        inside = red[k, int(y1) + 2:int(y1 + h) - 2, int(x1) + 2:int(x1 + w) - 2]
        assert inside.min() > 0.7 and red[k, :int(y1) - 2].max() < 0.3


def test_flip_and_grayscale_move_pixels_and_boxes():
    cfg = small_cfg(grayscale_prob=0.0, flip_prob=0.0, brightness_jitter=0.0)
    specs, zs, xs = _batch(cfg)
    plain = make_batch(specs, zs, xs, TRACK)
    from dataclasses import replace
    flipped = [replace(s, flip_search=(True,), gray=True) for s in specs]
    aug = make_batch(flipped, zs, xs, TRACK)
    bx, ax = plain.search_boxes[:, 0], aug.search_boxes[:, 0]
    assert torch.allclose(ax[:, 0], 1 - bx[:, 0] - bx[:, 2]) and torch.allclose(ax[:, 1:], bx[:, 1:])
    assert torch.allclose(aug.template_boxes, plain.template_boxes)  # template not flipped
    aug, plain = SimpleNamespace(search=aug.search[:, 0]), SimpleNamespace(search=plain.search[:, 0])
    un = aug.search * torch.tensor(TRACK.std).view(1, 3, 1, 1) + torch.tensor(TRACK.mean).view(1, 3, 1, 1)
    assert torch.allclose(un[:, 0], un[:, 1], atol=1e-5)  # gray: equal channels
    p = plain.search * torch.tensor(TRACK.std).view(1, 3, 1, 1) + torch.tensor(TRACK.mean).view(1, 3, 1, 1)
    gray = (p * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)
    assert torch.allclose(un[:, 0], gray.flip(-1), atol=1e-5)


# -- schedules -----------------------------------------------------------------------------
def test_keep_rate_schedule():
    assert keep_rate(5, None, 20, 80) is None
    assert keep_rate(19, 0.7, 20, 80) == 1.0
    assert keep_rate(20, 0.7, 20, 80) == pytest.approx(1.0)
    assert keep_rate(60, 0.7, 20, 80) == pytest.approx(0.85)
    assert keep_rate(40, 0.7, 20, 80) == pytest.approx(0.7 + 0.3 * (math.cos(math.pi / 4) + 1) / 2)
    assert keep_rate(100, 0.7, 20, 80) == 0.7 and keep_rate(300, 0.7, 20, 80) == 0.7


def test_optimizer_groups_and_step_drop():
    model, cfg = TinyTracker(), small_cfg(lr=4e-4, backbone_lr_mult=0.1, lr_drop_epoch=2)
    opt = build_optimizer(model, cfg)
    sched = build_scheduler(opt, cfg)
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs == pytest.approx({"head": 4e-4, "backbone": 4e-5})
    n_backbone = sum(p.numel() for p in model.backbone.parameters())
    assert sum(p.numel() for g in opt.param_groups if g["name"] == "backbone" for p in g["params"]) == n_backbone
    assert opt.defaults["weight_decay"] == cfg.weight_decay
    seen = []
    for _ in range(3):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([4e-4, 4e-4, 4e-5])


# -- training, checkpoint and resume --------------------------------------------------------
def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_gives_exactly_the_uninterrupted_weights(tmp_path):
    seqs, cfg = make_sequences(), small_cfg()
    torch.manual_seed(0)
    a = TinyTracker()
    log_a = train(a, seqs, cfg=cfg, track=TRACK, out_dir=tmp_path / "a", seed=3, keep_ratio=0.7, progress=False)
    torch.manual_seed(0)
    b = TinyTracker()
    train(b, seqs, cfg=cfg, track=TRACK, out_dir=tmp_path / "b", seed=3, keep_ratio=0.7,
          stop_after_epoch=1, progress=False)
    assert not (tmp_path / "b" / "model.pth").exists()
    torch.manual_seed(123)  # the resumed process starts from other random weights and RNG
    c = TinyTracker()
    torch.rand(7)
    log_c = train(c, seqs, cfg=cfg, track=TRACK, out_dir=tmp_path / "b", seed=3, keep_ratio=0.7,
                  resume=True, progress=False)
    sa, sc = _state(a), _state(c)
    assert sa.keys() == sc.keys()
    for k in sa:
        assert torch.equal(sa[k], sc[k]), k
    assert [r["loss"] for r in log_a] == [r["loss"] for r in log_c]
    # the final file holds the last weights
    from trackkit.train.checkpoint import read_weights

    final, preset = read_weights(tmp_path / "b" / "model.pth")  # the one weights format
    assert preset is None and all(torch.equal(final[k], sc[k]) for k in sc)
    # log: one record per epoch, lr drop after epoch 1, keep-rate schedule 1 -> cosine -> 0.7
    log = json.loads((tmp_path / "b" / "log.json").read_text())
    assert [r["epoch"] for r in log] == [1, 2]
    assert log[0]["lr"]["head"] == pytest.approx(1e-3) and log[1]["lr"]["head"] == pytest.approx(1e-4)
    assert [r["keep_rate"] for r in log] == [pytest.approx(1.0), pytest.approx(0.85)]
    assert set(log[0]["loss"]) >= {"focal", "giou", "l1", "total", "iou"}
    assert log[0]["samples"] == 16 and log[0]["samples_per_s"] > 0
    assert set(c.keep_rates) == {0.85}
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "b").iterdir())


def test_existing_checkpoint_needs_resume_and_same_config(tmp_path):
    seqs, cfg = make_sequences(), small_cfg(epochs=1)
    train(TinyTracker(), seqs, cfg=cfg, track=TRACK, out_dir=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="resume"):
        train(TinyTracker(), seqs, cfg=cfg, track=TRACK, out_dir=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="another config"):
        train(TinyTracker(), seqs, cfg=small_cfg(epochs=1, lr=0.5), track=TRACK, out_dir=tmp_path,
              resume=True, progress=False)


def test_training_reduces_the_loss(tmp_path):
    seqs = make_sequences()
    cfg = small_cfg(epochs=4, samples_per_epoch=32, batch_size=8, lr=3e-3, lr_drop_epoch=100)
    torch.manual_seed(0)
    log = train(TinyTracker(), seqs, cfg=cfg, track=TRACK, out_dir=tmp_path, progress=False)
    assert log[-1]["loss"]["total"] < log[0]["loss"]["total"]


class TwoSearchFramesTask(OneStreamPairTask):
    """A family that trains on clips of one template and two search frames (loss on both)."""

    num_search = 2

    def forward(self, net, batch):
        return [net(batch.templates[:, 0], batch.search[:, j], template_box=batch.template_boxes[:, 0])
                for j in range(self.num_search)]

    def loss(self, outs, batch):
        parts = [self.criterion(o, batch.search_boxes[:, j]) for j, o in enumerate(outs)]
        total = sum(p[0] for p in parts) / len(parts)
        return total, {"total": float(total.detach()), "iou": float(np.mean([p[1]["iou"] for p in parts]))}


def test_generic_trainer_runs_a_clip_task_and_freezes(tmp_path):
    seqs = make_sequences()
    cfg = small_cfg(epochs=1)
    torch.manual_seed(0)
    model = TinyTracker()
    model.backbone.requires_grad_(False)  # a frozen backbone: no gradient, no optimiser state
    before = _state(model)
    log = train_task(model, TwoSearchFramesTask(cfg, TRACK), seqs, cfg=cfg, out_dir=tmp_path, progress=False)
    assert len(log) == 1 and "keep_rate" not in log[0] and log[0]["loss"]["total"] > 0
    after = _state(model)
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("backbone."))
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("box_head.") and "weight" in k)
    ck = torch.load(tmp_path / "checkpoint.pth", weights_only=False)
    n_state = len(ck["optimizer"]["state"])
    assert n_state == sum(1 for p in model.parameters() if p.requires_grad)


# -- DDP -----------------------------------------------------------------------------------
def _ddp_worker(rank, world, init_file, out_dir, seqs):
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        model = TinyTracker()
        # make rank 1 start from other weights: DDP must broadcast rank 0's
        if rank == 1:
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(1.0)
        train(model, make_sequences(), cfg=small_cfg(epochs=1), track=TRACK, out_dir=out_dir, seed=4, progress=False)
        torch.save(_state(model), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_two_gloo_processes_stay_in_sync(tmp_path):
    import torch.multiprocessing as mp

    seqs = make_sequences()
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path), seqs), nprocs=2, join=True)
    s0, s1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for k in s0:
        if "running" in k or "num_batches" in k:
            continue  # BN statistics are per rank between broadcasts
        assert torch.equal(s0[k], s1[k]), k
    log = json.loads((tmp_path / "log.json").read_text())
    assert [r["epoch"] for r in log] == [1] and log[0]["samples"] == 16
    assert (tmp_path / "model.pth").exists()
