"""Official OSTrack checkpoint -> trackkit model: same score/size/offset maps as the official
architecture computes on the same inputs.

The reference below is written from the official architecture facts
(shared/reference/trackers.md) with plain torch ops on the official-layout state dict: no
trackkit module is used to compute it.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trackkit.cli import main as cli_main
from trackkit.errors import DataError
from trackkit.families import get_preset, load_model
from trackkit.families.ostrack import convert_ostrack as _convert_ostrack


def convert_ostrack(checkpoint, preset):
    return _convert_ostrack(checkpoint, preset)[0]

SMALL = ["model.embed_dim=64", "model.num_heads=4", "model.head_channels=32"]




def official_state_dict(cfg, seed=0) -> dict:
    """Random weights in the official OSTrack checkpoint layout."""
    g = torch.Generator().manual_seed(seed)
    D, P, hid = cfg.embed_dim, cfg.patch_size, int(cfg.embed_dim * cfg.mlp_ratio)

    def r(*shape, std=0.02):
        return torch.randn(*shape, generator=g) * std

    sd = {"backbone.cls_token": r(1, 1, D), "backbone.pos_embed": r(1, 1 + 14 * 14, D),
          "backbone.patch_embed.proj.weight": r(D, 3, P, P, std=0.05),
          "backbone.patch_embed.proj.bias": r(D),
          "backbone.pos_embed_z": r(1, cfg.template_grid ** 2, D, std=0.5),
          "backbone.pos_embed_x": r(1, cfg.feat_size ** 2, D, std=0.5),
          "backbone.norm.weight": 1 + r(D, std=0.1), "backbone.norm.bias": r(D)}
    for i in range(cfg.depth):
        p = f"backbone.blocks.{i}."
        sd |= {p + "norm1.weight": 1 + r(D, std=0.1), p + "norm1.bias": r(D),
               p + "attn.qkv.weight": r(3 * D, D, std=0.15), p + "attn.qkv.bias": r(3 * D),
               p + "attn.proj.weight": r(D, D, std=0.05), p + "attn.proj.bias": r(D),
               p + "norm2.weight": 1 + r(D, std=0.1), p + "norm2.bias": r(D),
               p + "mlp.fc1.weight": r(hid, D, std=0.05), p + "mlp.fc1.bias": r(hid),
               p + "mlp.fc2.weight": r(D, hid, std=0.05), p + "mlp.fc2.bias": r(D)}
    return sd | official_head_weights(g, D, cfg.head_channels, {"ctr": 1, "offset": 2, "size": 2})


def official_head_weights(g, cin: int, C: int, branches: dict[str, int]) -> dict:
    """Random weights of the box head's conv towers in the official layout, which OSTrack's
    CenterPredictor and STARK's Corner_Predictor (SimTrack) share: per branch b,
    box_head.conv{1..4}_b.{0: Conv3x3, 1: BatchNorm} (cin -> C -> C/2 -> C/4 -> C/8) and
    box_head.conv5_b (1x1 conv to branches[b] channels)."""
    def r(*shape, std=0.02):
        return torch.randn(*shape, generator=g) * std

    sd, ch = {}, [cin, C, C // 2, C // 4, C // 8]
    for branch, nout in branches.items():
        for j in range(4):
            p = f"box_head.conv{j + 1}_{branch}."
            sd |= {p + "0.weight": r(ch[j + 1], ch[j], 3, 3, std=1 / math.sqrt(9 * ch[j])),
                   p + "0.bias": r(ch[j + 1]),
                   p + "1.weight": 1 + r(ch[j + 1], std=0.1), p + "1.bias": r(ch[j + 1]),
                   p + "1.running_mean": r(ch[j + 1], std=0.1),
                   p + "1.running_var": 1 + torch.rand(ch[j + 1], generator=g),
                   p + "1.num_batches_tracked": torch.tensor(1000)}
        sd |= {f"box_head.conv5_{branch}.weight": r(nout, ch[4], 1, 1, std=0.3),
               f"box_head.conv5_{branch}.bias": r(nout)}
    return sd


def official_tower(sd, fmap, branch: str):
    """One branch of that head, eval mode: 4 x (Conv3x3 + BatchNorm(running stats, eps 1e-5) +
    ReLU), then the 1x1 conv5."""
    t = fmap
    for j in range(1, 5):
        p = f"box_head.conv{j}_{branch}."
        t = F.conv2d(t, sd[p + "0.weight"], sd[p + "0.bias"], padding=1)
        t = F.batch_norm(t, sd[p + "1.running_mean"], sd[p + "1.running_var"],
                         sd[p + "1.weight"], sd[p + "1.bias"], training=False, eps=1e-5)
        t = F.relu(t)
    return F.conv2d(t, sd[f"box_head.conv5_{branch}.weight"], sd[f"box_head.conv5_{branch}.bias"])


def reference_maps(sd, cfg, z, x):
    """OSTrack's forward (eval, CE with CTR_POINT) in plain torch ops on the official keys."""
    D, H, P = cfg.embed_dim, cfg.num_heads, cfg.patch_size
    eps = cfg.norm_eps

    def embed(img):
        y = F.conv2d(img, sd["backbone.patch_embed.proj.weight"],
                     sd["backbone.patch_embed.proj.bias"], stride=P)
        return y.flatten(2).transpose(1, 2)

    def ln(t, name):
        return F.layer_norm(t, (D,), sd[name + ".weight"], sd[name + ".bias"], eps=eps)

    zt = embed(z) + sd["backbone.pos_embed_z"]
    xt = embed(x) + sd["backbone.pos_embed_x"]
    B, nz, ns = zt.shape[0], zt.shape[1], xt.shape[1]
    h = torch.cat([zt, xt], dim=1)
    gidx = torch.arange(ns).expand(B, -1)
    removed = []
    ratios = dict(zip(cfg.ce_loc, cfg.keep_ratios))
    tg = cfg.template_grid
    ctr = ((tg - 1) // 2) * tg + (tg - 1) // 2
    for i in range(cfg.depth):
        p = f"backbone.blocks.{i}."
        y = ln(h, p + "norm1")
        N = y.shape[1]
        qkv = F.linear(y, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"])
        q, k, v = qkv.reshape(B, N, 3, H, D // H).permute(2, 0, 3, 1, 4)
        a = ((q @ k.transpose(-2, -1)) * (D // H) ** -0.5).softmax(dim=-1)
        o = (a @ v).transpose(1, 2).reshape(B, N, D)
        h = h + F.linear(o, sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
        if i in ratios:
            n = h.shape[1] - nz
            keep = math.ceil(ratios[i] * n)
            if keep < n:
                s = a[:, :, ctr, nz:].mean(dim=1)
                order = torch.sort(s, dim=1, descending=True).indices
                removed.append(gidx.gather(1, order[:, keep:]))
                gidx = gidx.gather(1, order[:, :keep])
                kept = h[:, nz:].gather(1, order[:, :keep, None].expand(-1, -1, D))
                h = torch.cat([h[:, :nz], kept], dim=1)
        y = ln(h, p + "norm2")
        y = F.linear(F.gelu(F.linear(y, sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"])),
                     sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"])
        h = h + y
    h = ln(h, "backbone.norm")
    xs = h[:, nz:]
    pad = torch.zeros(B, ns - xs.shape[1], D)
    full = torch.zeros(B, ns, D).scatter(
        1, torch.cat([gidx] + removed, dim=1)[..., None].expand(-1, -1, D), torch.cat([xs, pad], 1))
    Fs = cfg.feat_size
    fmap = full.transpose(1, 2).reshape(B, D, Fs, Fs)

    score = official_tower(sd, fmap, "ctr").sigmoid().clamp(1e-4, 1 - 1e-4)
    size = official_tower(sd, fmap, "size").sigmoid().clamp(1e-4, 1 - 1e-4)
    return score, size, official_tower(sd, fmap, "offset"), gidx


def _inputs(cfg, B=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, 3, cfg.template_size, cfg.template_size, generator=g),
            torch.randn(B, 3, cfg.search_size, cfg.search_size, generator=g))


def _compare(model, sd, cfg):
    z, x = _inputs(cfg)
    with torch.no_grad():
        out = model(z, x)
        score, size, offset, gidx = reference_maps(sd, cfg, z, x)
    for name, ref in (("score_map", score), ("size_map", size), ("offset_map", offset)):
        diff = (out[name] - ref).abs().max().item()
        assert diff < 1e-4, f"{name}: max abs diff {diff}"
    if cfg.ce_loc:
        assert torch.equal(out["keep_indices"][-1], gidx)


@pytest.mark.parametrize("ce", [True, False])
def test_converted_maps_equal_official(ce):
    p = get_preset("ostrack-cpu" if ce else "ostrack-cpu-noce", SMALL)
    sd = official_state_dict(p.model)
    model = convert_ostrack({"net": sd, "epoch": 300}, p)
    _compare(model, sd, p.model)
    if ce:  # CE really removes tokens here, so restoration was exercised
        assert [k.shape[1] for k in model(*_inputs(p.model))["keep_indices"]] == [45, 32]


def test_convert_cli_roundtrip(tmp_path):
    p = get_preset("ostrack-cpu")
    sd = official_state_dict(p.model, seed=3)
    ckpt, out = tmp_path / "OSTrack_ep0300.pth.tar", tmp_path / "converted.pth"
    torch.save({"net": sd, "epoch": 300}, ckpt)
    assert cli_main(["convert", "ostrack", str(ckpt), str(out), "--preset", "ostrack-cpu"]) == 0
    model, preset = load_model(out)
    assert preset.name == "ostrack-cpu"
    _compare(model, sd, preset.model)


def test_convert_mismatch_lists_keys():
    p = get_preset("ostrack-cpu", SMALL)
    sd = official_state_dict(p.model)
    del sd["backbone.blocks.0.attn.qkv.bias"]
    sd["box_head.extra.weight"] = torch.zeros(1)
    sd["backbone.norm.weight"] = torch.ones(7)
    with pytest.raises(DataError) as e:
        convert_ostrack(sd, p)
    msg = str(e.value)
    assert "backbone.blocks.0.attn.qkv.bias" in msg and "box_head.extra.weight" in msg
    assert "backbone.norm.weight: checkpoint (7,) vs model (64,)" in msg


def test_convert_wrong_preset_size(tmp_path):
    sd = official_state_dict(get_preset("ostrack-cpu", SMALL).model)
    with pytest.raises(DataError, match="shape mismatches"):
        convert_ostrack(sd, get_preset("ostrack-cpu"))


def test_convert_cli_missing_file(tmp_path, capsys):
    rc = cli_main(["convert", "ostrack", str(tmp_path / "nope.pth.tar"), str(tmp_path / "o.pth"),
                   "--preset", "ostrack-cpu"])
    assert rc == 2
    assert "nope.pth.tar" in capsys.readouterr().err


# -- SimTrack (reference forward: tests/test_simtrack_official.py) ---------------------------
def test_convert_simtrack_cli_roundtrip(tmp_path, capsys):
    from test_simtrack_official import SMALL as SIM_SMALL
    from test_simtrack_official import max_diffs
    from test_simtrack_official import official_state_dict as official_simtrack

    p = get_preset("simtrack-cpu", SIM_SMALL)
    sd = official_simtrack(p.model, seed=4)
    ckpt, out = tmp_path / "SimTrack_ep0500.pth.tar", tmp_path / "converted.pth"
    torch.save(sd, ckpt)  # the official tracker's file: a bare state dict
    assert cli_main(["convert", "simtrack", str(ckpt), str(out), *[a for o in SIM_SMALL for a in ("--set", o)],
                     "--preset", "simtrack-cpu"]) == 0
    assert "wrote" in capsys.readouterr().out
    model, preset = load_model(out)
    assert preset.model.mlp_activation == "quick_gelu" and preset.model.pre_norm
    assert max(max_diffs(model, sd, preset.model).values()) < 1e-4


def test_convert_kind_must_match_preset(tmp_path, capsys):
    ckpt = tmp_path / "x.pth"
    torch.save({"w": torch.zeros(1)}, ckpt)
    rc = cli_main(["convert", "simtrack", str(ckpt), str(tmp_path / "o.pth"), "--preset", "ostrack-cpu"])
    assert rc == 2
    assert "not simtrack" in capsys.readouterr().err
