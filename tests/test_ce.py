"""Early candidate elimination: counts, score order, restoration, fused == explicit, keep_rate."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from trackkit.models.onestream import OneStreamViT, template_rows




def vit(dim=32, heads=2, depth=4, t=64, s=128, ce_loc=(1, 2), ratio=0.7, rows="CTR_POINT",
        seed=0) -> OneStreamViT:
    torch.manual_seed(seed)
    m = OneStreamViT(embed_dim=dim, depth=depth, num_heads=heads, template_size=t, search_size=s,
                     pretrained_grid=8, ce_loc=ce_loc, ce_keep_ratio=(ratio,) * len(ce_loc),
                     ce_template_range=rows)
    # larger random pos embeds make attention scores well separated (no near-ties)
    with torch.no_grad():
        m.pos_embed_z.normal_(0, 1)
        m.pos_embed_x.normal_(0, 1)
    return m.eval()


def images(m, B=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    t, s = m.template_grid * m.patch_size, m.search_grid * m.patch_size
    return torch.randn(B, 3, t, t, generator=g), torch.randn(B, 3, s, s, generator=g)


@pytest.mark.parametrize("t,s,expected", [(128, 256, [180, 126, 89]), (192, 384, [404, 283, 199])])
def test_ce_token_counts_paper(t, s, expected):
    m = vit(dim=16, heads=2, depth=10, t=t, s=s, ce_loc=(3, 6, 9))
    with torch.no_grad():
        out = m(*images(m, B=1))
    assert [k.shape[1] for k in out["keep_indices"]] == expected
    assert [r.shape[1] for r in out["removed_indices"]] == [(s // 16) ** 2 - expected[0],
                                                            expected[0] - expected[1],
                                                            expected[1] - expected[2]]


def test_template_rows_official_indices():
    assert template_rows("CTR_POINT", 8, None, 2, 16).tolist() == [27]
    assert template_rows("CTR_POINT", 12, None, 2, 16).tolist() == [5 * 12 + 5]
    assert template_rows("CTR_POINT", 7, None, 2, 16).tolist() == [3 * 7 + 3]
    assert template_rows("CTR_POINT", 14, None, 2, 16).tolist() == [6 * 14 + 6]
    assert template_rows("CTR_REC", 8, None, 2, 16).tolist() == [27, 28, 35, 36]
    assert template_rows("ALL", 8, None, 2, 16) is None
    # GT_BOX: pixels [0, 63) of a 128 px template -> bilinear /16 -> cells 0..3 on both axes
    box = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.5, 0.25, 0.5, 0.25]])
    m = template_rows("GT_BOX", 8, box, 2, 16).reshape(2, 8, 8)
    want0 = torch.zeros(8, 8, dtype=torch.bool)
    want0[:4, :4] = True
    assert torch.equal(m[0], want0)
    # x: [64, 127) -> cells 4..7 ; y: [32, 63) -> cells 2..3
    want1 = torch.zeros(8, 8, dtype=torch.bool)
    want1[2:4, 4:8] = True
    assert torch.equal(m[1], want1)
    with pytest.raises(ValueError, match="template_box"):
        template_rows("GT_BOX", 8, None, 2, 16)


def _official_gt_box_mask(box, size=128, stride=16):
    """botaoye/OSTrack lib/utils/ce_utils.py (commit 33b5e12): generate_bbox_mask's Python
    slices on the pixel mask, then generate_mask_cond's bilinear /stride and bool."""
    mask = torch.zeros(box.shape[0], size, size)
    for i, (x1, y1, w, h) in enumerate((box * size).tolist()):
        mask[i, int(y1):int(y1 + h - 1), int(x1):int(x1 + w - 1)] = 1
    m = F.interpolate(mask[:, None], scale_factor=1.0 / stride, mode="bilinear", align_corners=False)
    return m.flatten(1).to(torch.bool)


def test_gt_box_rows_equal_official_except_left_top_overhang():
    inside = torch.tensor([[0.1, 0.2, 0.5, 0.3], [0.33, 0.41, 0.6, 0.55], [-0.005, 0.0, 0.4, 0.7]])
    torch.testing.assert_close(template_rows("GT_BOX", 8, inside, 3, 16), _official_gt_box_mask(inside))
    # 12.8 px past the left edge: the official slice [-12:50] is empty (its mask: nothing),
    # trackkit keeps the visible part, px [0, 50) -> cells 0..2
    over = torch.tensor([[-0.1, 0.25, 0.5, 0.5]])
    assert not _official_gt_box_mask(over).any()
    m = template_rows("GT_BOX", 8, over, 1, 16).reshape(8, 8)
    want = torch.zeros(8, 8, dtype=torch.bool)
    want[2:6, 0:3] = True
    assert torch.equal(m, want)
    # reaching the far edge: the official mask wraps to a strip along the right edge
    wide = torch.tensor([[-0.1, 0.25, 1.2, 0.5]])
    official = _official_gt_box_mask(wide).reshape(8, 8)
    assert official[2:6, 7].all() and not official[:, :7].any()
    assert template_rows("GT_BOX", 8, wide, 1, 16).reshape(8, 8)[2:6].all()


def _explicit_first_ce_scores(m, z, x, rows_mode, box=None):
    """Independent computation: run the blocks before the first CE block, then the full
    attention map by hand, template rows -> search columns, mean rows then heads."""
    zt = m.patch_embed(z) + m.pos_embed_z
    xt = m.patch_embed(x) + m.pos_embed_x
    h = torch.cat([zt, xt], 1)
    first = min(m.ce_ratio)
    for blk in m.blocks[:first]:
        h = blk(h)
    blk = m.blocks[first]
    y = blk.norm1(h)
    B, N, D = y.shape
    H = blk.attn.num_heads
    q, k, _ = blk.attn.qkv(y).reshape(B, N, 3, H, D // H).permute(2, 0, 3, 1, 4)
    a = ((q @ k.transpose(-2, -1)) / math.sqrt(D // H)).softmax(-1)
    nz = zt.shape[1]
    w = a[:, :, :nz, nz:]  # (B,H,nz,ns)
    rows = template_rows(rows_mode, m.template_grid, box, B, 16)
    if rows is None:
        return w.mean(2).mean(1)
    if rows.dim() == 1:
        return w[:, :, rows].mean(2).mean(1)
    out = []
    for b in range(B):
        out.append(w[b][:, rows[b]].mean(1).mean(0))
    return torch.stack(out)


@pytest.mark.parametrize("rows", ["CTR_POINT", "CTR_REC", "ALL", "GT_BOX"])
def test_kept_tokens_in_score_order(rows):
    m = vit(rows=rows)
    z, x = images(m)
    box = torch.tensor([[0.2, 0.3, 0.5, 0.4], [0.25, 0.25, 0.5, 0.5]])
    with torch.no_grad():
        out = m(z, x, template_box=box)
        scores = _explicit_first_ce_scores(m, z, x, rows, box)
    keep = out["keep_indices"][0]
    assert keep.shape[1] == math.ceil(0.7 * 64)
    expected = torch.sort(scores, dim=1, descending=True).indices[:, :keep.shape[1]]
    assert torch.equal(keep, expected)
    kept_scores = scores.gather(1, keep)
    assert (kept_scores[:, :-1] >= kept_scores[:, 1:]).all()  # score order, not raster order
    assert not torch.equal(keep, keep.sort(dim=1).values)


@pytest.mark.parametrize("rows", ["CTR_POINT", "CTR_REC", "ALL", "GT_BOX"])
def test_fused_side_scores_equal_explicit_attention(rows):
    m = vit(rows=rows)
    z, x = images(m)
    box = torch.tensor([[0.1, 0.2, 0.6, 0.5], [0.3, 0.3, 0.3, 0.3]])
    # the block-level routine: same attention output, same CE scores
    blk = m.blocks[1]
    h = torch.randn(2, 16 + 64, 32)
    r = template_rows(rows, 4, box, 2, 16)
    with torch.no_grad():
        out_f, s_f = m._attention_with_scores(blk.attn, blk.norm1(h), 16, 16, 64, r)
        m.set_fused_attn(False)
        out_e, s_e = m._attention_with_scores(blk.attn, blk.norm1(h), 16, 16, 64, r)
        m.set_fused_attn(True)
    torch.testing.assert_close(s_f, s_e, rtol=0, atol=1e-7)
    torch.testing.assert_close(out_f, out_e, rtol=0, atol=1e-5)
    # the whole backbone
    with torch.no_grad():
        a = m(z, x, template_box=box)
        m.set_fused_attn(False)
        b = m(z, x, template_box=box)
    for ka, kb in zip(a["keep_indices"], b["keep_indices"]):
        assert torch.equal(ka, kb)
    torch.testing.assert_close(a["search"], b["search"], rtol=0, atol=1e-5)


def test_restoration_zeros_and_positions():
    m = vit()
    z, x = images(m)
    with torch.no_grad():
        out = m(z, x)
    search = out["search"]
    kept = out["keep_indices"][-1]
    removed = torch.cat(out["removed_indices"], 1)
    for b in range(2):
        allidx = torch.cat([kept[b], removed[b]]).sort().values
        assert torch.equal(allidx, torch.arange(64))  # a partition of the search tokens
        assert (search[b, removed[b]] == 0).all()
        assert (search[b, kept[b]].abs().sum(-1) > 0).all()
    # the kept features (final norm output, in score order) sit at their original positions
    seen = {}
    m.norm.register_forward_hook(lambda mod, inp, out: seen.setdefault("h", out))
    with torch.no_grad():
        m(z, x)
    kept_feats = seen["h"][:, 16:16 + kept.shape[1]]
    torch.testing.assert_close(search.gather(1, kept[..., None].expand(-1, -1, 32)), kept_feats,
                               rtol=0, atol=0)


def test_batch_elements_independent():
    m = vit()
    z, x = images(m, B=3)
    with torch.no_grad():
        both = m(z, x)
        for b in range(3):
            one = m(z[b:b + 1], x[b:b + 1])
            torch.testing.assert_close(both["search"][b:b + 1], one["search"], rtol=0, atol=1e-5)
            for kb, ko in zip(both["keep_indices"], one["keep_indices"]):
                assert torch.equal(kb[b:b + 1], ko)


def test_keep_rate_override():
    m = vit()
    z, x = images(m)
    with torch.no_grad():
        half = m(z, x, keep_rate=0.5)
        assert [k.shape[1] for k in half["keep_indices"]] == [32, 16]
        none = m(z, x, keep_rate=1.0)
        assert [k.shape[1] for k in none["keep_indices"]] == [64, 64]
        assert all(r.shape[1] == 0 for r in none["removed_indices"])
        plain = vit(ce_loc=())  # same seed -> same weights, no CE blocks at all
        plain.load_state_dict(m.state_dict())
        torch.testing.assert_close(none["search"], plain(z, x)["search"], rtol=0, atol=1e-5)


@settings(max_examples=12, deadline=None)
@given(ratios=st.lists(st.floats(0.05, 1.0), min_size=1, max_size=3),
       search=st.sampled_from([64, 96, 128]))
def test_ceil_rule_property(ratios, search):
    depth = len(ratios) + 1
    m = OneStreamViT(embed_dim=16, depth=depth, num_heads=2, template_size=32, search_size=search,
                     pretrained_grid=4, ce_loc=tuple(range(len(ratios))),
                     ce_keep_ratio=tuple(ratios)).eval()
    z = torch.randn(1, 3, 32, 32)
    x = torch.randn(1, 3, search, search)
    with torch.no_grad():
        out = m(z, x)
    n = (search // 16) ** 2
    for r, keep, rem in zip(ratios, out["keep_indices"], out["removed_indices"]):
        n = math.ceil(r * n) if r < 1 else n
        assert keep.shape[1] == n
        assert len(set(keep[0].tolist()) | set(rem[0].tolist())) == keep.shape[1] + rem.shape[1]
    assert (out["search"].abs().sum(-1) > 0).sum().item() == n


def test_extra_tokens_pass_through_ce():
    m = vit()
    z, x = images(m)
    extra = torch.randn(2, 5, 32)
    with torch.no_grad():
        out = m(z, x, extra_tokens=extra)
    assert out["extra"].shape == (2, 5, 32)
    assert [k.shape[1] for k in out["keep_indices"]] == [45, 32]
    assert F.mse_loss(out["extra"], torch.zeros_like(out["extra"])) > 0
