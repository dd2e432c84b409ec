"""Masked-autoencoder pretraining (trackkit.pretrain, `trackkit pretrain`).

References re-derived here: facebookresearch/mae at commit efb2a80 — ``util/pos_embed.py``
(get_2d_sincos_pos_embed), ``models_mae.py`` (patchify, random_masking, forward_loss),
``util/lr_sched.py`` (adjust_learning_rate).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trackkit.errors import ConfigError, DataError
from trackkit.families import build_model, get_preset
from trackkit.pretrain import (
    WEIGHTS,
    FolderCrops,
    MaskedAutoencoder,
    PretrainConfig,
    list_images,
    load_mae,
    pretrain,
    pretrain_preset,
    random_masking,
    reconstruction_figure,
    sincos_pos_embed,
)
from trackkit.pretrain.data import CropMaker, decode_image, normalize
from trackkit.pretrain.loop import lr_at, param_groups
from trackkit.pretrain.mae import backbone_fields

# a ViT small enough for fast tests: 32 px images, 8 px patches (4 x 4 grid)
TINY_MODEL = ["model.embed_dim=32", "model.depth=1", "model.ce_loc=()", "model.num_heads=2", "model.patch_size=8",
              "model.pretrained_grid=4"]
TINY = dict(epochs=2, samples_per_epoch=32, batch_size=16, synth_frames_per_scene=1,
            synth_crops_per_frame=8, decoder_dim=16, decoder_heads=2, warmup_epochs=0.5, num_workers=0)


def tiny_mae(cls_token=True, seed=0, **kw) -> MaskedAutoencoder:
    torch.manual_seed(seed)
    backbone = backbone_fields(get_preset("ostrack-cpu", TINY_MODEL).model)
    return MaskedAutoencoder(backbone, cls_token=cls_token, decoder_dim=16, decoder_heads=2, **kw)


def images(n=4, size=32, seed=0) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


# -- MAE's pieces ------------------------------------------------------------------------------
def mae_sincos(dim: int, grid: int) -> np.ndarray:
    """MAE util/pos_embed.py: meshgrid(w, h) -> first half of the channels from grid[0]."""
    def one_d(d, pos):
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    g = np.stack(np.meshgrid(np.arange(grid, dtype=np.float32), np.arange(grid, dtype=np.float32)))
    g = g.reshape(2, 1, grid, grid)
    emb = np.concatenate([one_d(dim // 2, g[0]), one_d(dim // 2, g[1])], axis=1)
    return np.concatenate([np.zeros((1, dim)), emb])


def test_sincos_table_is_maes():
    ours = sincos_pos_embed(128, 8, cls_token=True)
    assert ours.shape == (1, 65, 128)
    ref = torch.from_numpy(mae_sincos(128, 8)).float()[None]
    assert torch.allclose(ours, ref, atol=1e-6)
    assert sincos_pos_embed(64, 4, cls_token=False).shape == (1, 16, 64)


def test_masking_ratio_and_shapes():
    keep, mask, restore = random_masking(5, 64, 0.75, generator=torch.Generator().manual_seed(0))
    assert keep.shape == (5, 16) and mask.shape == (5, 64)
    assert torch.equal(mask.sum(1), torch.full((5,), 48.0))
    for b in range(5):
        assert len(set(keep[b].tolist())) == 16
        assert (mask[b, keep[b]] == 0).all()  # the kept patches are exactly the unmasked ones
    assert not torch.equal(mask[0], mask[1])  # per-sample masks
    assert torch.equal(torch.gather(torch.argsort(restore, 1), 1, restore), torch.arange(64).expand(5, -1))

    model = tiny_mae()
    x = images()
    loss, pred, mask = model(x, generator=torch.Generator().manual_seed(1))
    assert pred.shape == (4, 16, 8 * 8 * 3) and mask.shape == (4, 16)
    assert mask.sum().item() == 4 * 12  # int(16 * 0.25) = 4 visible
    target = model.target(x)
    assert target.shape == pred.shape
    assert torch.allclose(target.mean(-1), torch.zeros(4, 16), atol=1e-5)  # norm_pix_loss
    assert torch.allclose(target.var(-1), torch.ones(4, 16), atol=1e-3)
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_patchify_is_maes_layout_and_inverts():
    model = tiny_mae()
    x = images(2)
    p, h = 8, 4
    ref = torch.einsum("nchpwq->nhwpqc", x.reshape(2, 3, h, p, h, p)).reshape(2, h * h, p * p * 3)
    assert torch.equal(model.patchify(x), ref)
    assert torch.equal(model.unpatchify(model.patchify(x)), x)


def test_encoder_never_sees_masked_patches():
    model = tiny_mae().eval()
    x = images(3)
    noise = torch.rand(3, 16, generator=torch.Generator().manual_seed(2))
    keep, mask, _ = random_masking(3, 16, model.mask_ratio, noise=noise)
    masked_px = model.unpatchify(mask[..., None].expand(-1, -1, 192)).bool()
    changed = torch.where(masked_px, torch.randn_like(x) * 10, x)
    with torch.no_grad():
        a = model.forward_encoder(x, keep)
        b = model.forward_encoder(changed, keep)
        assert torch.equal(a, b)
        # and a visible pixel does reach it (the check above could not pass by ignoring input)
        visible = x.clone()
        visible[~masked_px] += 1.0
        assert not torch.equal(a, model.forward_encoder(visible, keep))


def test_loss_counts_masked_patches_only():
    model = tiny_mae()
    x = images(2)
    noise = torch.rand(2, 16, generator=torch.Generator().manual_seed(3))
    _, mask, _ = random_masking(2, 16, model.mask_ratio, noise=noise)
    pred = torch.randn(2, 16, 192)
    other = pred + (1 - mask)[..., None] * 5.0  # change predictions of visible patches only
    assert torch.equal(model.loss(x, pred, mask), model.loss(x, other, mask))
    ref = (((pred - model.target(x)) ** 2).mean(-1) * mask).sum() / mask.sum()
    assert torch.allclose(model.loss(x, pred, mask), ref)


def test_lr_schedule_and_weight_decay_groups():
    cfg = PretrainConfig(epochs=10, warmup_epochs=2, base_lr=1e-3, batch_size=128, min_lr=1e-5,
                         samples_per_epoch=128)
    peak = 1e-3 * 128 / 256
    assert lr_at(cfg, 0) == 0 and math.isclose(lr_at(cfg, 1), peak / 2)
    assert math.isclose(lr_at(cfg, 2), peak)
    assert math.isclose(lr_at(cfg, 6), 1e-5 + (peak - 1e-5) * 0.5)
    assert math.isclose(lr_at(cfg, 10), 1e-5)
    model = tiny_mae()
    no_decay, decay = param_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in no_decay["params"]} >= {"norm.weight", "blocks.0.attn.qkv.bias"}
    assert "cls_token" in {names[id(p)] for p in decay["params"]}  # 3-D: decayed, as MAE
    frozen = {"pos_embed", "decoder_pos_embed"}
    assert frozen.isdisjoint(names[id(p)] for g in (no_decay, decay) for p in g["params"])
    with pytest.raises(ConfigError, match="multiple of batch_size"):
        PretrainConfig(samples_per_epoch=100, batch_size=64)
    with pytest.raises(ConfigError, match="pretrain.mask_ratio"):
        PretrainConfig().override(["pretrain.mask_ratio=abc"])


def test_default_decoder_is_mae_lites():
    """MAE-Lite's ViT-Tiny (dim 192) decoder: 96 wide, 3 heads, one block
    (wangsr126/mae-lite f3090d4, projects/mae_lite/models_mae.py, mae_vit_tiny_patch16)."""
    cfg = PretrainConfig()
    assert cfg.decoder_size(192) == (96, 3) and cfg.decoder_depth == 1
    assert cfg.decoder_size(128) == (64, 2)
    assert PretrainConfig(decoder_dim=48, decoder_heads=4).decoder_size(128) == (48, 4)


# -- runs --------------------------------------------------------------------------------------
def tiny_run(out, stop=None, resume=False, seed=0):
    preset = get_preset("ostrack-cpu", TINY_MODEL)
    return pretrain_preset(preset, PretrainConfig(**TINY), out, seed=seed, resume=resume,
                           stop_after_epoch=stop, progress=False)


def test_resume_is_exact_and_runs_are_deterministic(tmp_path):
    full = tiny_run(tmp_path / "full")
    tiny_run(tmp_path / "split", stop=1)
    with pytest.raises(ConfigError, match="exists"):
        tiny_run(tmp_path / "split")
    resumed = tiny_run(tmp_path / "split", resume=True)
    assert [r["loss"] for r in full] == [r["loss"] for r in resumed]
    a = torch.load(tmp_path / "full" / "checkpoint.pth", weights_only=True)
    b = torch.load(tmp_path / "split" / "checkpoint.pth", weights_only=True)
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    for pid, state in a["optimizer"]["state"].items():
        for k, v in state.items():
            assert torch.equal(v, b["optimizer"]["state"][pid][k]), (pid, k)
    wa = torch.load(tmp_path / "full" / WEIGHTS, weights_only=True)["model"]
    wb = torch.load(tmp_path / "split" / WEIGHTS, weights_only=True)["model"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    other = tiny_run(tmp_path / "seed1", seed=1)
    assert other[-1]["loss"] != full[-1]["loss"]


def test_resume_refuses_other_settings(tmp_path):
    tiny_run(tmp_path, stop=1)
    preset = get_preset("ostrack-cpu", TINY_MODEL)
    with pytest.raises(ConfigError, match="another config or seed"):
        pretrain_preset(preset, PretrainConfig(**{**TINY, "base_lr": 1e-4}), tmp_path, resume=True,
                        progress=False)


@pytest.fixture(scope="module")
def cpu_size_weights(tmp_path_factory):
    """A one-step pretraining of the CPU presets' ViT (dim 128, depth 4, 128 px)."""
    out = tmp_path_factory.mktemp("mae-cpu")
    cfg = PretrainConfig(epochs=1, samples_per_epoch=16, batch_size=16, synth_frames_per_scene=1,
                         synth_crops_per_frame=16, num_workers=0)
    pretrain_preset(get_preset("ostrack-cpu"), cfg, out, progress=False)
    return out


@pytest.mark.parametrize("name", ["ostrack-cpu", "ostrack-cpu-noce", "simtrack-cpu"])
def test_weights_load_into_every_cpu_preset(cpu_size_weights, name):
    path = cpu_size_weights / WEIGHTS
    sd = torch.load(path, weights_only=True)["model"]
    assert sd["pos_embed"].shape == (1, 65, 128) and sd["decoder_embed.weight"].shape == (64, 128)
    model = build_model(get_preset(name, [f"model.pretrained={path}"]))
    bb = model.backbone
    for k, v in bb.state_dict().items():
        if k.startswith(("blocks.", "norm.", "patch_embed.")):
            assert torch.equal(v, sd[k]), k
    # the pretraining grid equals the search grid (8 x 8): the table is taken as is
    assert torch.equal(bb.pos_embed_x, sd["pos_embed"][:, 1:])
    if bb.cls_token is not None:
        assert torch.equal(bb.cls_token, sd["cls_token"])
        assert torch.equal(bb.pos_embed_cls, sd["pos_embed"][:, :1])


def test_no_class_token_weights_load_only_without_class_token(tmp_path):
    cfg = PretrainConfig(epochs=1, samples_per_epoch=16, batch_size=16, synth_frames_per_scene=1,
                         synth_crops_per_frame=16, num_workers=0, cls_token=False)
    pretrain_preset(get_preset("ostrack-cpu"), cfg, tmp_path, progress=False)
    path = tmp_path / WEIGHTS
    assert torch.load(path, weights_only=True)["model"]["pos_embed"].shape == (1, 64, 128)
    build_model(get_preset("ostrack-cpu", [f"model.pretrained={path}"]))
    with pytest.raises(DataError, match="class token"):
        build_model(get_preset("simtrack-cpu", [f"model.pretrained={path}"]))


class Pool(torch.utils.data.Dataset):
    """Fixed crops; item (epoch, i) -> crop i (the loop's item protocol)."""

    def __init__(self, crops):
        self.crops = crops

    def __getitem__(self, item):
        return self.crops[item[1] % len(self.crops)][None]


def test_pretrained_encoder_reconstructs_held_out_frames_better_than_random(tmp_path):
    """300 steps on 512 procedural crops; held-out crops come from the 'val' split's scenes.
    Also below the loss of predicting every normalised patch as its mean (zeros, ~1): the
    encoder learned something a constant decoder output cannot give."""
    from trackkit.pretrain import SynthCrops

    preset = get_preset("ostrack-cpu", TINY_MODEL)
    # base_lr 4e-3 at batch 32 is an absolute lr of 5e-4 (the default run: 7.5e-4 at batch 128)
    cfg = PretrainConfig(epochs=10, samples_per_epoch=960, batch_size=32, base_lr=4e-3,
                         warmup_epochs=1, synth_frames_per_scene=2, synth_crops_per_frame=8,
                         decoder_dim=16, decoder_heads=2, num_workers=0)
    crops = CropMaker(cfg, 32, preset.track.template_factor, preset.track.search_factor)
    train = torch.cat([SynthCrops(cfg, crops, seed=0)[(0, i)] for i in range(32)])
    held_out = torch.cat([SynthCrops(cfg, crops, seed=0, split="val")[(0, i)] for i in range(4)])
    mean, std = preset.track.mean, preset.track.std
    trained = tiny_mae(seed=0)
    log = pretrain(trained, Pool(train), cfg=cfg, crops_per_item=1, mean=mean, std=std,
                   out_dir=tmp_path, progress=False)
    assert log[-1]["step"] == 300
    x = normalize(held_out, mean, std)
    noise = torch.rand(x.shape[0], 16, generator=torch.Generator().manual_seed(5))
    _, mask, _ = random_masking(x.shape[0], 16, trained.mask_ratio, noise=noise)
    with torch.no_grad():
        loss_trained = trained.eval()(x, noise=noise)[0].item()
        loss_random = tiny_mae(seed=0).eval()(x, noise=noise)[0].item()
        loss_mean = (((trained.target(x) ** 2).mean(-1) * mask).sum() / mask.sum()).item()
    assert loss_trained < loss_random
    assert loss_trained < loss_mean


def test_reconstruction_figure(cpu_size_weights):
    import matplotlib

    matplotlib.use("Agg")
    model, info = load_mae(cpu_size_weights)
    assert info["settings"]["preset"] == "ostrack-cpu" and len(info["log"]) == 1
    crops = torch.randint(0, 256, (3, 128, 128, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    fig = reconstruction_figure(model, crops, info["settings"]["mean"], info["settings"]["std"], rows=2)
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["masked input", "reconstruction", "original"]


# -- image folders -----------------------------------------------------------------------------
def write_images(root, names):
    from PIL import Image

    for i, name in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((40 + i, 50, 3), 20 * i, np.uint8)).save(path)


def test_image_folder_is_read_recursively(tmp_path):
    write_images(tmp_path, ["a.jpg", "sub/b.PNG", "sub/deeper/c.jpeg", ".hidden/d.png"])
    (tmp_path / "notes.txt").write_text("not an image")
    paths = list_images(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["a.jpg", "sub/b.PNG", "sub/deeper/c.jpeg"]
    assert decode_image(paths[1]).shape == (41, 50, 3)
    cfg = PretrainConfig(**TINY)
    ds = FolderCrops(paths, CropMaker(cfg, 32, 2.0, 4.0), seed=0)
    crop = ds[(0, 0)]
    assert crop.shape == (1, 32, 32, 3) and crop.dtype == torch.uint8
    assert torch.equal(crop, ds[(0, 0)])  # a function of (seed, epoch, item)
    firsts = {tuple(ds.order(e)) for e in range(4)}
    assert len(firsts) > 1  # a new order every epoch


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        list_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found") as e:
        list_images(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(e.value)
    bad = tmp_path / "imgs" / "broken.jpg"
    bad.parent.mkdir()
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DataError, match="cannot decode image") as e:
        decode_image(bad)
    assert str(bad) in str(e.value)


def test_cli_pretrains_on_a_folder_and_names_a_bad_image(tmp_path, capsys):
    from trackkit.cli import main

    folder = tmp_path / "imgs"
    write_images(folder, [f"x/{i}.png" for i in range(4)])
    args = ["pretrain", "--preset", "ostrack-cpu", "--out", str(tmp_path / "run"), "--images", str(folder),
            "--no-progress"] + [a for o in TINY_MODEL for a in ("--set", o)] + \
        [a for k, v in TINY.items() for a in ("--set", f"pretrain.{k}={v}")] + \
        ["--set", "pretrain.synth_crops_per_frame=1", "--set", "pretrain.num_workers=1"]
    assert main(args) == 0
    assert "images/s" in capsys.readouterr().out
    model = build_model(get_preset("ostrack-cpu", TINY_MODEL + [f"model.pretrained={tmp_path / 'run' / WEIGHTS}"]))
    assert model is not None
    (folder / "x" / "2.png").write_bytes(b"garbage")
    assert main(args[:4] + [str(tmp_path / "run2")] + args[5:]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1  # one line, not the loader worker's traceback
    assert str(folder / "x" / "2.png") in err[0] and "cannot decode image" in err[0]
