"""Presets, overrides, heads, SimTrack parts, weights, the trainable switch."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer

from trackkit.cli import main as cli_main
from trackkit.errors import ConfigError, DataError
from trackkit.families import Preset, build_model, get_preset, list_presets, load_model, save_model
from trackkit.families.ostrack import OSTrackConfig
from trackkit.families.simtrack import patch_box_ratio
from trackkit.models.heads import CenterHead, CornerHead




def inputs(p, B=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    m = p.model
    return (torch.randn(B, 3, m.template_size, m.template_size, generator=g),
            torch.randn(B, 3, m.search_size, m.search_size, generator=g),
            torch.tensor([[0.25, 0.25, 0.5, 0.5], [0.3, 0.2, 0.4, 0.6]])[:B])


# -- presets and overrides -------------------------------------------------------------------
def test_registry_and_unknown_name():
    names = list_presets()
    for n in ["ostrack-b256", "ostrack-b256-noce", "ostrack-b384", "ostrack-b384-noce",
              "simtrack-b16", "ostrack-tiny", "ostrack-cpu", "ostrack-cpu-noce", "simtrack-cpu"]:
        assert n in names
    with pytest.raises(ConfigError) as e:
        get_preset("ostrack-b512")
    assert "ostrack-b256" in str(e.value) and "simtrack-cpu" in str(e.value)
    p = get_preset("ostrack-b384")
    assert (p.model.template_size, p.model.search_size, p.track.search_factor) == (192, 384, 5.0)
    assert p.model.ce_token_counts() == [576, 404, 283, 199]
    assert get_preset("ostrack-b256").model.ce_token_counts() == [256, 180, 126, 89]
    s = get_preset("simtrack-b16")
    assert (s.model.head, s.track.hanning, s.train.focal_weight) == ("corner", False, 0.0)


def test_override_typed():
    p = get_preset("ostrack-cpu")
    q = p.override(["model.ce_keep_ratio=0.6", "train.epochs=3", "track.hanning=false"])
    assert q.model.ce_keep_ratio == 0.6 and isinstance(q.model.ce_keep_ratio, float)
    assert q.train.epochs == 3 and q.track.hanning is False
    assert p.model.ce_keep_ratio == 0.7  # the registered preset is untouched
    q = p.override(["model.ce_loc=[0, 2, 3]", "model.ce_keep_ratio=0.5,0.6,0.7",
                    "model.pretrained=none", "train.lr=2e-3"])
    assert q.model.ce_loc == (0, 2, 3) and q.model.ce_keep_ratio == (0.5, 0.6, 0.7)
    assert q.model.pretrained is None and q.train.lr == 2e-3
    assert q.overrides[-1] == "train.lr=2e-3"
    assert p.override(["model.ce_loc=()"]).model.ce_loc == ()
    assert p.override(["track.mean=0.5,0.5,0.5"]).track.mean == (0.5, 0.5, 0.5)


@pytest.mark.parametrize("ov,match", [
    (["model.depth=abc"], "model.depth expects int"),
    (["model.depht=3"], "did you mean model.depth"),
    (["foo.bar=1"], "must start with one of"),
    (["model.depth"], "expected section.field=value"),
    (["model.ce_keep_ratio=1.5"], r"must lie in \(0, 1\]"),
    (["model.ce_keep_ratio=0.5,0.5,0.5"], "3 values for 2 CE blocks"),
    (["model.search_size=256"], "track.search_size=128"),
    (["track.hanning=maybe"], "not a bool"),
    (["model.ce_loc=1,9"], "outside the 4 blocks"),
    (["model.trainable=some"], "trainable"),
])
def test_override_errors(ov, match):
    with pytest.raises(ConfigError, match=match):
        get_preset("ostrack-cpu").override(ov)


def test_override_both_sizes_together():
    p = get_preset("ostrack-cpu").override(["model.search_size=160", "track.search_size=160"])
    assert p.model.feat_size == 10


def test_preset_dict_roundtrip():
    p = get_preset("simtrack-cpu", ["train.epochs=2"])
    assert Preset.from_dict(p.to_dict()) == p


def test_presets_cli(capsys):
    assert cli_main(["presets"]) == 0
    out = capsys.readouterr().out
    for n in list_presets():
        assert n in out
    assert "3,6,9@0.7" in out


# -- models ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ostrack-cpu", "ostrack-cpu-noce", "simtrack-cpu"])
def test_forward_interface(name):
    p = get_preset(name)
    model = build_model(p).eval()
    z, x, box = inputs(p)
    with torch.no_grad():
        out = model(z, x, template_box=box)
    F_ = model.feat_size
    assert F_ == 8 and out["boxes"].shape == (2, 4)
    assert len(out["keep_indices"]) == len(p.model.ce_loc)
    if model.head_type == "center":
        assert out["score_map"].shape == (2, 1, F_, F_)
        assert out["size_map"].shape == out["offset_map"].shape == (2, 2, F_, F_)
        s = out["score_map"]
        assert s.min() >= 1e-4 and s.max() <= 1 - 1e-4
    else:
        assert name.startswith("simtrack")
    boxes = model.decode(out, window=torch.ones(F_, F_))
    torch.testing.assert_close(boxes, out["boxes"])


def test_deterministic_build():
    torch.manual_seed(0)
    a = build_model(get_preset("simtrack-cpu")).state_dict()
    torch.manual_seed(0)
    b = build_model(get_preset("simtrack-cpu")).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_center_head_decode_and_window():
    head = CenterHead(8, channels=16, feat_size=4)
    score = torch.full((1, 1, 4, 4), 0.1)
    score[0, 0, 1, 2] = 0.9  # iy=1, ix=2
    score[0, 0, 3, 0] = 0.8
    size = torch.rand(1, 2, 4, 4)
    offset = torch.rand(1, 2, 4, 4)
    out = {"score_map": score, "size_map": size, "offset_map": offset}
    box, s = head.decode(out, return_score=True)
    want = torch.tensor([[(2 + offset[0, 0, 1, 2]) / 4, (1 + offset[0, 1, 1, 2]) / 4,
                          size[0, 0, 1, 2], size[0, 1, 1, 2]]])
    torch.testing.assert_close(box, want)
    assert s.item() == pytest.approx(0.9)
    window = torch.ones(4, 4)
    window[1, 2] = 0.5  # the window moves the argmax to (3, 0)
    box = head.decode(out, window=window)
    assert box[0, 0].item() == pytest.approx((0 + offset[0, 0, 3, 0].item()) / 4)
    # Xavier init: bounded by sqrt(6 / (fan_in + fan_out))
    w = head.conv1_ctr[0].weight
    assert w.abs().max() <= (6 / (8 * 9 + 16 * 9)) ** 0.5


def test_corner_head_soft_argmax():
    head = CornerHead(8, channels=16, feat_size=4, bottleneck_dim=0)
    logits = torch.full((1, 1, 4, 4), -50.0)
    logits[0, 0, 1, 2] = 50.0
    xy = head._soft_argmax(logits)
    torch.testing.assert_close(xy, torch.tensor([[2 / 4, 1 / 4]]))
    out = head(torch.randn(2, 16, 8))
    x1, y1, x2, y2 = out["boxes_xyxy"].unbind(1)
    torch.testing.assert_close(out["boxes"], torch.stack([(x1 + x2) / 2, (y1 + y2) / 2,
                                                          x2 - x1, y2 - y1], 1))
    assert torch.equal(head.decode(out, window=torch.zeros(4, 4)), out["boxes"])


# -- SimTrack --------------------------------------------------------------------------------
def test_patch_box_ratio():
    box = torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.125, 0.0, 0.25, 0.25]])
    r = patch_box_ratio(box, 4).reshape(2, 4, 4)
    want = torch.zeros(4, 4)
    want[1, 1] = 1
    torch.testing.assert_close(r[0], want)
    want = torch.zeros(4, 4)
    want[0, 0] = want[0, 1] = 0.5
    torch.testing.assert_close(r[1], want)


def test_simtrack_b16_geometry():
    p = get_preset("simtrack-b16", ["model.embed_dim=32", "model.num_heads=2", "model.depth=2",
                                    "model.head_channels=16", "model.bottleneck_dim=16"])
    m = build_model(p).eval()
    assert m.foveal_px == 24  # 64 px window centred in the 112 px template
    lo = m.foveal_lo.reshape(4, 4)
    hi = m.foveal_hi.reshape(4, 4)
    for i in range(4):
        for j in range(4):  # between template cells (1+i, 1+j) and (2+i, 2+j) of the 7x7 grid
            assert lo[i, j] == (1 + i) * 7 + (1 + j) and hi[i, j] == (2 + i) * 7 + (2 + j)
    z, x, box = inputs(p)
    seen = {}
    m.backbone.register_forward_hook(lambda mod, a, out: seen.update(out))
    with torch.no_grad():
        out = m(z, x, template_box=box)
    assert seen["template"].shape == (2, 49, 32) and seen["cls"].shape == (2, 1, 32)
    assert seen["search"].shape == (2, 196, 32) and seen["extra"].shape == (2, 16, 32)
    assert out["boxes"].shape == (2, 4)
    with pytest.raises(ValueError, match="template_box"):
        m(z, x)


def test_simtrack_template_box_matters_ostrack_not():
    sim = get_preset("simtrack-cpu")
    m = build_model(sim).eval()
    z, x, box = inputs(sim)
    with torch.no_grad():
        a = m(z, x, template_box=box)["boxes"]
        b = m(z, x, template_box=box.flip(0))["boxes"]
    assert not torch.allclose(a, b)
    # without the distinguishable embedding the box is not used
    m2 = build_model(sim.override(["model.dist_pos_embed=false"])).eval()
    with torch.no_grad():
        torch.testing.assert_close(m2(z, x, template_box=box)["boxes"],
                                   m2(z, x, template_box=box.flip(0))["boxes"])


# -- trainable switch ------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["all", "none", "last:1", "norm"])
def test_trainable(spec):
    m = build_model(get_preset("ostrack-cpu", [f"model.trainable={spec}"]))
    bb = {n for n, t in m.backbone.named_parameters() if t.requires_grad}
    assert all(t.requires_grad for t in m.box_head.parameters())
    names = {n for n, _ in m.backbone.named_parameters()}
    if spec == "all":
        assert bb == names
    elif spec == "none":
        assert bb == set()
    elif spec == "last:1":
        assert bb == {n for n in names if n.startswith(("blocks.3.", "norm."))}
    else:
        assert bb and all(".norm" in n or n.startswith("norm.") for n in bb)
        assert not any("qkv" in n for n in bb)


# -- weights ---------------------------------------------------------------------------------
def _tiny_timm(tmp_path, depth=2, extra=None):
    torch.manual_seed(0)
    vit = VisionTransformer(img_size=224, patch_size=16, embed_dim=32, depth=depth, num_heads=2,
                            num_classes=10)
    sd = vit.state_dict()
    sd |= extra or {}
    path = tmp_path / "vit.pth"
    torch.save({"model": sd}, path)
    return sd, path


def test_load_pretrained_resamples(tmp_path):
    sd, path = _tiny_timm(tmp_path, extra={"decoder_embed.weight": torch.zeros(3, 3),
                                           "mask_token": torch.zeros(1, 1, 32)})
    p = get_preset("ostrack-cpu", ["model.embed_dim=32", "model.num_heads=2", "model.depth=2",
                                   "model.ce_loc=1", "model.pretrained_grid=14",
                                   f"model.pretrained={path}"])
    m = build_model(p)
    bb = m.backbone
    torch.testing.assert_close(bb.blocks[1].mlp.fc2.weight, sd["blocks.1.mlp.fc2.weight"])
    torch.testing.assert_close(bb.patch_embed.proj.weight, sd["patch_embed.proj.weight"])
    grid = sd["pos_embed"][:, 1:].reshape(1, 14, 14, 32).permute(0, 3, 1, 2)
    for pos, n in ((bb.pos_embed_z, 4), (bb.pos_embed_x, 8)):
        want = F.interpolate(grid, size=(n, n), mode="bicubic", align_corners=False)
        torch.testing.assert_close(pos.detach(), want.flatten(2).transpose(1, 2))
    # a class-token model takes the file's cls token and its position embedding
    s = build_model(get_preset("simtrack-cpu", [
        "model.embed_dim=32", "model.num_heads=2", "model.depth=2", "model.bottleneck_dim=16",
        "model.pretrained_grid=14", f"model.pretrained={path}"]))
    torch.testing.assert_close(s.backbone.pos_embed_cls.detach(), sd["pos_embed"][:, :1])
    torch.testing.assert_close(s.backbone.cls_token.detach(), sd["cls_token"])


def test_load_pretrained_errors(tmp_path):
    _, path = _tiny_timm(tmp_path)
    base = ["model.embed_dim=32", "model.num_heads=2", "model.ce_loc=1"]
    with pytest.raises(DataError) as e:  # 4 blocks wanted, 2 in the file
        build_model(get_preset("ostrack-cpu", base + [f"model.pretrained={path}"]))
    assert "blocks.3.attn.qkv.weight" in str(e.value) and str(path) in str(e.value)
    missing = tmp_path / "mae_pretrain_vit_base.pth"
    with pytest.raises(DataError) as e:
        build_model(get_preset("ostrack-b256", [f"model.pretrained={missing}"]))
    assert str(missing) in str(e.value) and "mae_pretrain_vit_base.pth" in str(e.value)
    assert "put" in str(e.value)


def test_save_load_model(tmp_path):
    p = get_preset("simtrack-cpu", ["train.epochs=1"])
    m = build_model(p).eval()
    save_model(tmp_path / "m.pth", m, p)
    m2, p2 = load_model(tmp_path / "m.pth")
    assert p2 == p
    z, x, box = inputs(p)
    with torch.no_grad():
        torch.testing.assert_close(m(z, x, box)["boxes"], m2(z, x, box)["boxes"])
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="bad.pth"):
        load_model(tmp_path / "bad.pth")


def test_model_config_validation():
    with pytest.raises(ConfigError, match="divisible"):
        OSTrackConfig(embed_dim=100, num_heads=12)
    with pytest.raises(ConfigError, match="multiple of patch_size"):
        OSTrackConfig(search_size=250)


@pytest.mark.parametrize("name", ["ostrack-cpu", "simtrack-cpu"])
def test_every_trainable_parameter_gets_a_gradient(name):
    """No unused trainable parameters (DDP needs this) and CE is differentiable."""
    p = get_preset(name)
    m = build_model(p).train()
    z, x, box = inputs(p)
    out = m(z, x, template_box=box, keep_rate=0.8 if p.model.ce_loc else None)
    loss = out["boxes"].sum() + (out["score_map"].sum() + out["size_map"].sum()
                                 + out["offset_map"].sum() if "score_map" in out else 0)
    loss.backward()
    lacking = [n for n, t in m.named_parameters() if t.requires_grad and t.grad is None]
    assert lacking == []


# -- backbone options (CLIP: QuickGELU, no patch bias) ---------------------------------------
def test_backbone_activation_and_patch_bias_options():
    from timm.layers import QuickGELU

    from trackkit.models import OneStreamViT

    kw = dict(embed_dim=32, depth=2, num_heads=2, template_size=64, search_size=128, pretrained_grid=8)
    torch.manual_seed(0)
    default = OneStreamViT(**kw).state_dict()
    torch.manual_seed(0)
    explicit = OneStreamViT(**kw, mlp_activation="gelu", patch_bias=True).state_dict()
    assert default.keys() == explicit.keys() and all(torch.equal(default[k], explicit[k]) for k in default)
    clip = OneStreamViT(**kw, mlp_activation="quick_gelu", patch_bias=False, pre_norm=True)
    assert isinstance(clip.blocks[0].mlp.act, QuickGELU) and clip.patch_embed.proj.bias is None
    x = torch.randn(5)
    torch.testing.assert_close(clip.blocks[0].mlp.act(x), x * torch.sigmoid(1.702 * x))
    # the bias no longer follows pre_norm (timm ties them)
    assert OneStreamViT(**kw, pre_norm=True).patch_embed.proj.bias is not None
    with pytest.raises(ConfigError, match="mlp_activation"):
        OneStreamViT(**kw, mlp_activation="relu")
    with pytest.raises(ConfigError, match="mlp_activation"):
        get_preset("simtrack-cpu", ["model.mlp_activation=swish"])
