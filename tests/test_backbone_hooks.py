"""The one-stream backbone's per-block outputs and injection points (for side networks)."""
import pytest
import torch

from trackkit.models.onestream import OneStreamViT


def _vit(ce_loc=(1,)):
    torch.manual_seed(0)
    return OneStreamViT(embed_dim=32, depth=3, num_heads=2, template_size=32, search_size=64, pretrained_grid=4,
                        ce_loc=ce_loc, ce_keep_ratio=(0.5,) * len(ce_loc)).eval()


def _inputs(b=2):
    g = torch.Generator().manual_seed(1)
    return torch.randn(b, 3, 32, 32, generator=g), torch.randn(b, 3, 64, 64, generator=g)


def test_intermediates_do_not_change_the_forward():
    vit, (z, x) = _vit(), _inputs()
    with torch.no_grad():
        ref = vit(z, x)
        out, inter = vit.forward_intermediates(z, x)
        _, last2 = vit.forward_intermediates(z, x, indices=2)
    assert torch.equal(out["search"], ref["search"]) and torch.equal(out["template"], ref["template"])
    assert len(inter) == 3 and [h.shape[1] for h, _ in inter] == [4 + 16, 4 + 8, 4 + 8]  # CE at block 1: 16 -> 8
    assert torch.equal(vit.norm(inter[-1][0])[:, :4], ref["template"])
    assert [torch.equal(a[0], b[0]) for a, b in zip(inter[1:], last2)] == [True, True]
    h, layout = inter[1]
    assert layout.n_kept == 8 and torch.equal(layout.index, ref["keep_indices"][0])
    with pytest.raises(ValueError, match="outside"):
        vit.forward_intermediates(z, x, indices=[3])


def test_injection_reaches_the_next_block():
    vit, (z, x) = _vit(ce_loc=()), _inputs()
    seen = []

    def zero(i, h, layout):
        seen.append((i, layout.nz, layout.s0, layout.n_kept, layout.n_extra))
        return h + 0.0

    def shift_search(i, h, layout):
        if i != 0:
            return h
        h = h.clone()  # a direction per feature (a constant shift would vanish in the LayerNorms)
        h[:, layout.search_slice()] += torch.linspace(-1, 1, h.shape[-1])
        return h

    with torch.no_grad():
        ref = vit(z, x)
        same = vit(z, x, inject=zero)
        moved = vit(z, x, inject=shift_search)
    assert seen == [(0, 4, 4, 16, 0), (1, 4, 4, 16, 0), (2, 4, 4, 16, 0)]
    assert torch.equal(same["search"], ref["search"])
    assert not torch.allclose(moved["search"], ref["search"]) and not torch.allclose(moved["template"], ref["template"])


def test_injection_gets_gradients_through_a_frozen_backbone():
    vit, (z, x) = _vit(ce_loc=()), _inputs()
    vit.requires_grad_(False)
    side = torch.nn.Parameter(torch.zeros(32))

    def add(i, h, layout):
        return h + side if i == 0 else h

    vit(z, x, inject=add)["search"].square().mean().backward()
    assert side.grad is not None and side.grad.abs().sum() > 0
    assert all(p.grad is None for p in vit.parameters())
