"""RepConv (STDTrack's multi-scale head block): the merged 5x5 conv equals the multi-branch
block in eval mode (equations 3-5), for both BatchNorm layouts."""
import pytest
import torch
from torch import nn

from trackkit.models.repconv import RepConv, fold_batchnorm, pad_kernel, reparameterize_model


def _randomise_norms(block: nn.Module, gen: torch.Generator) -> None:
    """Non-trivial running statistics and affine parameters (fresh BN is the identity-ish case)."""
    for bn in block.modules():
        if isinstance(bn, nn.BatchNorm2d):
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n, generator=gen))
            bn.running_var.copy_(torch.rand(n, generator=gen) * 2 + 0.1)
            bn.weight.data.copy_(torch.randn(n, generator=gen))
            bn.bias.data.copy_(torch.randn(n, generator=gen))


@pytest.mark.parametrize("norm", ["shared", "branch"])
@pytest.mark.parametrize("kernels", [(1, 3, 5), (3, 5), (1, 3)])
def test_reparameterised_equals_multi_branch(norm, kernels):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    block = RepConv(12, 8, kernels=kernels, norm=norm)
    with torch.no_grad():
        _randomise_norms(block, gen)
    block.eval()
    x = torch.randn(3, 12, 9, 9, generator=gen)
    with torch.no_grad():
        ref = block(x)
        fused = reparameterize_model(block)
        out = fused(x)
    assert fused.fused is not None and not hasattr(fused, "branches")
    assert fused.fused.kernel_size == (max(kernels),) * 2
    assert (out - ref).abs().max().item() <= 1e-5
    assert block.fused is None  # reparameterize_model copied by default


def test_equation_5_folds_batchnorm_like_running_it():
    gen = torch.Generator().manual_seed(1)
    conv = nn.Conv2d(4, 6, 3, padding=1)
    bn = nn.BatchNorm2d(6)
    with torch.no_grad():
        _randomise_norms(bn, gen)
    bn.eval()
    x = torch.randn(2, 4, 7, 7, generator=gen)
    with torch.no_grad():
        k, b = fold_batchnorm(conv.weight, conv.bias, bn)
        assert torch.allclose(nn.functional.conv2d(x, k, b, padding=1), bn(conv(x)), atol=1e-5)


def test_equation_3_places_kernels_at_the_centre():
    k1 = torch.arange(1.0, 7.0).reshape(3, 2, 1, 1)
    p = pad_kernel(k1, 5)
    assert p.shape == (3, 2, 5, 5) and torch.equal(p[:, :, 2, 2], k1[:, :, 0, 0])
    assert p.abs().sum() == k1.abs().sum()
    k3 = torch.randn(1, 1, 3, 3)
    assert torch.equal(pad_kernel(k3, 5)[0, 0, 1:4, 1:4], k3[0, 0])


def test_reparameterize_refuses_training_mode_and_bad_settings():
    block = RepConv(2, 2)
    with pytest.raises(RuntimeError, match="eval mode"):
        block.reparameterize()
    with pytest.raises(ValueError, match="norm"):
        RepConv(2, 2, norm="none")
    with pytest.raises(ValueError, match="odd"):
        RepConv(2, 2, kernels=(2, 3))


def test_training_mode_differs_from_merge_so_the_check_is_meaningful():
    """In training mode BN uses batch statistics: the merged conv (running stats) is different."""
    torch.manual_seed(0)
    block = RepConv(3, 3)
    x = torch.randn(4, 3, 6, 6) * 3 + 1
    with torch.no_grad():
        train_out = block.train()(x)
        fused = reparameterize_model(block)
        assert (fused(x) - train_out).abs().max() > 1e-2
