"""SimTrack equals the official model: converted official weights, same corner maps.

The reference below re-derives the official forward with plain torch ops on the official
state-dict layout; no trackkit module computes it. Written from LPXTT/SimTrack at commit
a89a268aa7b70186fad4af70d994b489e8b5b942:
- lib/models/stark/clipvit16.py, CLIPVIT.forward (patch anchors, distinguishable embedding,
  foveal window in both of its branches, bilinear search position embedding, token order,
  ln_pre / transformer / ln_post over CLIP's visual tower);
- lib/models/stark/simtrack.py (bottleneck on all tokens, the last search tokens to a map);
- lib/models/stark/head.py, Corner_Predictor (soft-argmax at k * stride / img_size);
- lib/test/tracker/simtrack.py, initialize (the template box);
and OpenAI CLIP's ResidualAttentionBlock (nn.MultiheadAttention, QuickGELU, LayerNorm eps 1e-5).
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from test_convert import official_head_weights, official_tower
from trackkit.errors import DataError
from trackkit.families import get_preset
from trackkit.families.simtrack import SimTrack, simtrack_template_box
from trackkit.families.simtrack import convert_simtrack as _convert_simtrack
from trackkit.models.convert import map_official_simtrack


def convert_simtrack(checkpoint, preset):
    return _convert_simtrack(checkpoint, preset)[0]

# CLIP backbone options on a small SimTrack: dim 64, 2 blocks, 64/128 px, 48 px window
CLIP = ["model.pre_norm=true", "model.norm_eps=1e-5", "model.mlp_activation=quick_gelu",
        "model.patch_bias=false"]
SMALL = CLIP + ["model.embed_dim=64", "model.num_heads=4", "model.depth=2",
                "model.head_channels=32", "model.bottleneck_dim=32"]


def small_preset(extra=()):
    return get_preset("simtrack-cpu", SMALL + list(extra))


def official_state_dict(cfg, pos_grid=14, seed=0) -> dict:
    """Random weights in the official SimTrack layout (CLIP visual tower under backbone.visual)."""
    g = torch.Generator().manual_seed(seed)
    D, P, C = cfg.embed_dim, cfg.patch_size, cfg.head_channels
    hid, B = int(D * cfg.mlp_ratio), cfg.bottleneck_dim

    def r(*shape, std=0.02):
        return torch.randn(*shape, generator=g) * std

    v = "backbone.visual."
    # small search / cls embeddings (variance ~1e-4): LayerNorm's eps then matters
    sd = {v + "conv1.weight": r(D, 3, P, P, std=3e-4), v + "class_embedding": r(D, std=0.01),
          v + "positional_embedding": r(1 + pos_grid ** 2, D, std=0.01),
          v + "ln_pre.weight": 1 + r(D, std=0.1), v + "ln_pre.bias": r(D),
          v + "ln_post.weight": 1 + r(D, std=0.1), v + "ln_post.bias": r(D),
          v + "proj": r(D, 16),
          "backbone.pos_fc.0.weight": r(D // 2, 3, std=0.5), "backbone.pos_fc.0.bias": r(D // 2),
          "backbone.pos_fc.2.weight": r(D, D // 2, std=0.2), "backbone.pos_fc.2.bias": r(D),
          "bottleneck.weight": r(B, D, std=0.1), "bottleneck.bias": r(B)}
    for i in range(cfg.depth):
        p = f"{v}transformer.resblocks.{i}."
        sd |= {p + "attn.in_proj_weight": r(3 * D, D, std=0.15), p + "attn.in_proj_bias": r(3 * D),
               p + "attn.out_proj.weight": r(D, D, std=0.05), p + "attn.out_proj.bias": r(D),
               p + "ln_1.weight": 1 + r(D, std=0.1), p + "ln_1.bias": r(D),
               p + "ln_2.weight": 1 + r(D, std=0.1), p + "ln_2.bias": r(D),
               p + "mlp.c_fc.weight": r(hid, D, std=0.1), p + "mlp.c_fc.bias": r(hid),
               p + "mlp.c_proj.weight": r(D, hid, std=0.05), p + "mlp.c_proj.bias": r(D)}
    return sd | official_head_weights(g, B, C, {"tl": 1, "br": 1})


def reference_forward(sd, cfg, z, x, annot) -> dict:
    """The official SimTrack forward (eval) in plain torch ops on the official keys.

    z (B,3,T,T), x (B,3,S,S), annot (B,4) template box x1,y1,w,h / T. Returns the tokens after
    ln_post (foveal ones included), the template position embedding, the corner maps and the
    boxes (cx,cy,w,h)."""
    v = "backbone.visual."
    D, H, P = cfg.embed_dim, cfg.num_heads, cfg.patch_size
    T, S, Fv = cfg.template_size, cfg.search_size, cfg.foveal_size
    tz, fz, sz = T // P, Fv // P, S // P
    B = z.shape[0]

    def ln(t, name):
        return F.layer_norm(t, (D,), sd[name + ".weight"], sd[name + ".bias"], eps=1e-5)

    def embed(img):  # conv1 has no bias
        return F.conv2d(img, sd[v + "conv1.weight"], stride=P)

    xs, xt = embed(x), embed(z)

    # distinguishable embedding: anchors of the template patches, box coverage / patch area
    y1 = torch.arange(0, P * tz, P).unsqueeze(1).repeat(1, tz).reshape(-1)
    x1 = torch.arange(0, P * tz, P).unsqueeze(0).repeat(tz, 1).reshape(-1)
    anchors = torch.stack([x1, y1, x1 + P, y1 + P], 1).float() / (P * tz)
    centres = torch.stack([(2 * x1 + P) / 2, (2 * y1 + P) / 2], 1).float() / (P * tz)
    gt = torch.cat([annot[:, :2], annot[:, :2] + annot[:, 2:]], 1).clamp(0, 1)
    lt = torch.maximum(anchors[None, :, :2], gt[:, None, :2])
    rb = torch.minimum(anchors[None, :, 2:], gt[:, None, 2:])
    wh = (rb - lt).clamp(min=0)
    area = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    cover = (wh[..., 0] * wh[..., 1] / area + 1) / 2  # (B, tz*tz)
    inp = torch.cat([cover[..., None], centres.expand(B, -1, -1)], -1)
    h = F.relu(F.linear(inp, sd["backbone.pos_fc.0.weight"], sd["backbone.pos_fc.0.bias"]))
    pos_t = torch.sigmoid(F.linear(h, sd["backbone.pos_fc.2.weight"], sd["backbone.pos_fc.2.bias"]))
    pos_t = pos_t * 2 - 1  # (B, tz*tz, D)

    # foveal window: the official code's two branches
    if (T - Fv) % (Fv * 2) == 0:
        shifted = torch.zeros_like(z)
        shifted[:, :, :-(P // 2), :-(P // 2)] = z[:, :, P // 2:, P // 2:]
        pad = (tz - fz) // 2
        fov = embed(shifted)[:, :, pad:-pad, pad:-pad]
    else:
        pad = (tz - fz) * P // 2
        fov = embed(z[:, :, pad:-pad, pad:-pad])
    grid_t = pos_t.transpose(1, 2).reshape(B, D, tz, tz)
    pad1 = torch.zeros(B, D, tz + 1, tz + 1)
    pad2 = torch.zeros(B, D, tz + 1, tz + 1)
    pad1[:, :, :tz, :tz] = grid_t
    pad2[:, :, 1:, 1:] = grid_t
    o = (tz - fz) // 2 + 1
    pos_f = ((pad1 + pad2)[:, :, o:o + fz, o:o + fz] / 2).flatten(2).transpose(1, 2)
    fov = fov.flatten(2).transpose(1, 2) + pos_f

    pe = sd[v + "positional_embedding"]
    g = math.isqrt(pe.shape[0] - 1)
    pos_s = F.interpolate(pe[1:].reshape(1, g, g, D).permute(0, 3, 1, 2), size=(sz, sz),
                          mode="bilinear")
    pos_s = torch.cat([pe[0].reshape(1, 1, D), pos_s.flatten(2).transpose(1, 2)], 1)
    cls = sd[v + "class_embedding"].reshape(1, 1, D).expand(B, -1, -1)
    search = torch.cat([cls, xs.flatten(2).transpose(1, 2)], 1) + pos_s
    t = torch.cat([xt.flatten(2).transpose(1, 2) + pos_t, search, fov], 1)

    t = ln(t, v + "ln_pre")
    for i in range(cfg.depth):
        p = f"{v}transformer.resblocks.{i}."
        y = ln(t, p + "ln_1")
        N = y.shape[1]
        q, k, val = F.linear(y, sd[p + "attn.in_proj_weight"], sd[p + "attn.in_proj_bias"]).chunk(3, -1)
        q, k, val = (a.reshape(B, N, H, D // H).transpose(1, 2) for a in (q, k, val))
        a = ((q * (D // H) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        y = (a @ val).transpose(1, 2).reshape(B, N, D)
        t = t + F.linear(y, sd[p + "attn.out_proj.weight"], sd[p + "attn.out_proj.bias"])
        y = F.linear(ln(t, p + "ln_2"), sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"])
        y = y * torch.sigmoid(1.702 * y)  # QuickGELU
        t = t + F.linear(y, sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"])
    tokens = ln(t, v + "ln_post")

    feat = F.linear(tokens[:, :-fz * fz], sd["bottleneck.weight"], sd["bottleneck.bias"])
    fmap = feat[:, -sz * sz:].transpose(1, 2).reshape(B, -1, sz, sz)

    tl, br = official_tower(sd, fmap, "tl"), official_tower(sd, fmap, "br")
    idx = torch.arange(sz) * P
    cx, cy = idx.repeat(sz).float(), idx.repeat_interleave(sz).float()

    def soft_argmax(m):
        prob = m.flatten(1).softmax(1)
        return (prob * cx).sum(1), (prob * cy).sum(1)

    xyxy = torch.stack([*soft_argmax(tl), *soft_argmax(br)], 1) / (sz * P)
    boxes = torch.cat([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], 1)
    return {"tokens": tokens, "template_pos": pos_t, "corner_maps": torch.cat([tl, br], 1),
            "boxes": boxes}


def _inputs(cfg, B=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(B, 3, cfg.template_size, cfg.template_size, generator=g)
    x = torch.randn(B, 3, cfg.search_size, cfg.search_size, generator=g)
    # one box inside the crop, one sticking out past the top-left corner
    box = torch.tensor([[0.3, 0.2, 0.35, 0.5], [-0.1, -0.05, 0.6, 0.4]])[:B]
    return z, x, box


def max_diffs(model, sd, cfg) -> dict:
    """Max abs differences trackkit - reference on the same inputs."""
    z, x, box = _inputs(cfg)
    seen = {}
    hook = model.backbone.register_forward_hook(lambda mod, a, out: seen.update(out))
    with torch.no_grad():
        out = model(z, x, template_box=box)
        ref = reference_forward(sd, cfg, z, x, box)
        pos = model.template_pos(box, z.shape[0])
    hook.remove()
    tokens = torch.cat([seen["template"], seen["cls"], seen["search"], seen["extra"]], 1)
    nf = (cfg.foveal_size // cfg.patch_size) ** 2
    return {"tokens": (tokens[:, :-nf] - ref["tokens"][:, :-nf]).abs().max().item(),
            "foveal": (tokens[:, -nf:] - ref["tokens"][:, -nf:]).abs().max().item(),
            "template_pos": (pos - ref["template_pos"]).abs().max().item(),
            "corner_maps": (out["corner_maps"] - ref["corner_maps"]).abs().max().item(),
            "boxes": (out["boxes"] - ref["boxes"]).abs().max().item()}


@pytest.mark.parametrize("geometry", [
    [],  # 64 px template, 48 px window: odd gap, window half a patch off (as Sim-B/16)
    ["model.template_size=96", "track.template_size=96", "model.foveal_size=32"],  # shifted
    ["model.template_size=128", "track.template_size=128", "model.foveal_size=64"],  # on-grid
])
def test_converted_simtrack_equals_official(geometry):
    p = small_preset(geometry)
    sd = official_state_dict(p.model)
    model = convert_simtrack({"net": sd}, p)
    diffs = max_diffs(model, sd, p.model)
    assert max(diffs.values()) < 1e-4, diffs


def test_reference_is_sensitive_to_each_clip_option():
    """The comparison can fail: each of trackkit's former settings (no ln_pre, LayerNorm eps
    1e-6, exact GELU) moves the corner maps away from the official forward."""
    p = small_preset()
    sd = official_state_dict(p.model)

    def no_pre_norm(m):
        m.backbone.norm_pre = torch.nn.Identity()

    def eps_1e6(m):
        for mod in m.backbone.modules():
            if isinstance(mod, torch.nn.LayerNorm):
                mod.eps = 1e-6

    def exact_gelu(m):
        for blk in m.backbone.blocks:
            blk.mlp.act = torch.nn.GELU()

    for change in (no_pre_norm, eps_1e6, exact_gelu):
        model = convert_simtrack({"net": sd}, p)
        change(model)
        assert max_diffs(model, sd, p.model)["corner_maps"] > 1e-4, change.__name__


def test_simtrack_b16_key_and_shape_mapping():
    """Every official Sim-B/16 key maps onto the simtrack-b16 network with its shape."""
    p = get_preset("simtrack-b16")
    cfg = p.model
    sd = {k: torch.empty(t.shape) for k, t in official_state_dict(cfg).items()}
    assert sd["backbone.visual.conv1.weight"].shape == (768, 3, 16, 16)
    assert sd["backbone.visual.positional_embedding"].shape == (197, 768)
    assert sd["bottleneck.weight"].shape == (256, 768)
    model = SimTrack.from_config(cfg)
    mapped = map_official_simtrack(sd, model)
    own = model.state_dict()
    assert set(mapped) == set(own)
    assert all(mapped[k].shape == own[k].shape for k in own)
    assert "backbone.patch_embed.proj.bias" not in own  # CLIP's conv1 has no bias
    assert model.foveal_px == 24 and len(model.backbone.blocks) == 12
    assert (cfg.pre_norm, cfg.norm_eps, cfg.mlp_activation) == (True, 1e-5, "quick_gelu")


def test_simtrack_mapping_errors():
    p = small_preset()
    sd = official_state_dict(p.model)
    model = SimTrack.from_config(p.model)
    bad = dict(sd)
    bad["backbone.visual.attnpool.weight"] = torch.zeros(1)
    with pytest.raises(DataError, match="attnpool"):
        map_official_simtrack(bad, model)
    bad = dict(sd)
    del bad["backbone.visual.ln_pre.weight"]
    with pytest.raises(DataError, match=r"missing from the checkpoint: \['backbone.norm_pre.weight'\]"):
        map_official_simtrack(bad, model)
    bad = dict(sd)
    bad["backbone.visual.positional_embedding"] = torch.zeros(51, 64)  # 50 grid rows
    with pytest.raises(DataError, match="not a class token plus a square grid"):
        map_official_simtrack(bad, model)


# -- the tracker's template box --------------------------------------------------------------
def official_template_anno(bbox, rz_factor, template_size):
    """lib/test/tracker/simtrack.py initialize, line for line on one box."""
    bbox_sz = torch.tensor(bbox[2:]) * rz_factor
    anno = torch.tensor([int(template_size / 2 - bbox_sz[0] / 2),
                         int(template_size / 2 - bbox_sz[1] / 2), bbox_sz[0], bbox_sz[1]])
    return anno / template_size


def crop_factor(w, h, factor=2.0, size=112):  # sample_target's resize factor
    return size / math.ceil(math.sqrt(w * h) * factor)


@pytest.mark.parametrize("box", [[10.0, 20.0, 50.0, 31.0], [3.0, 4.0, 200.0, 10.0],
                                 [0.0, 0.0, 7.3, 91.6], [5.5, 6.5, 40.0, 40.0]])
def test_template_box_follows_official_tracker(box):
    rf = crop_factor(box[2], box[3])
    got = simtrack_template_box(torch.tensor([box]), rf, 112)
    assert torch.equal(got[0], official_template_anno(box, rf, 112))


def test_template_box_values_and_batch():
    boxes = [[10.0, 20.0, 50.0, 31.0], [3.0, 4.0, 200.0, 10.0]]
    rfs = [crop_factor(*b[2:]) for b in boxes]  # 112/79 and 112/90
    got = simtrack_template_box(boxes, torch.tensor(rfs), 112)
    # 50 * 112/79 = 70.89 -> 56 - 35.44 = 20.56 -> 20; 31 * 112/79 = 43.95 -> 34.03 -> 34
    torch.testing.assert_close(got[0] * 112, torch.tensor([20.0, 34.0, 50 * 112 / 79, 31 * 112 / 79]))
    # a target wider than the crop: 56 - 124.44 = -68.44 truncates to -68 (floor would be -69)
    assert got[1, 0].item() * 112 == pytest.approx(-68.0)
    for b, rf, row in zip(boxes, rfs, got):
        assert torch.equal(row, official_template_anno(b, rf, 112))
