"""RepConv: parallel 1x1 / 3x3 / 5x5 convolutions with BatchNorm that merge into one 5x5 conv.

STDTrack's multi-scale prediction head (Shi et al., "Exploring Reliable Spatiotemporal
Dependencies for Efficient Visual Tracking", Figure 4 and equations 3-5) replaces each
Conv3x3 + BN + ReLU block of OSTrack's center head by a block whose 1x1, 3x3 and 5x5
convolutions run side by side and are summed; at inference the branches are merged
(structural re-parameterisation, RepVGG: Ding et al., CVPR 2021) into a single 5x5 conv:

- eq. 3: each kernel is zero-padded to 5x5, centred (the 1x1 kernel at (2, 2), the 3x3 at
  rows / columns 1..3, 0-based);
- eq. 4: the padded kernels and the branch biases are summed;
- eq. 5: the BatchNorm (running statistics, eval mode) is folded in:
  ``K' = gamma / sqrt(var + eps) * K``, ``b' = beta + gamma * (b - mean) / sqrt(var + eps)``.

Readings (no public STDTrack code):

- ``norm="shared"`` (default): equations 3-5 as written -- the branches are plain convs with
  biases, summed, then **one** BatchNorm, then ReLU.
- ``norm="branch"``: RepVGG's layout (DingXiaoH/RepVGG ``repvgg.py``, ``RepVGGBlock``: each
  branch a bias-free conv followed by its own BatchNorm, folded per branch and then summed).
  The paper's text ("conv pathways ... fused through element-wise summation") fits both;
  this is the variant an ablation can switch to.

Both merge exactly (up to float rounding) in eval mode; in training mode BatchNorm uses batch
statistics and no merged conv can reproduce it, so :meth:`RepConv.reparameterize` refuses to
run on a module in training mode.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("shared", "branch")


def fold_batchnorm(kernel: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Equation 5: the conv ``(kernel, bias)`` followed by ``bn`` (running statistics) as one conv."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    b = torch.zeros_like(bn.running_mean) if bias is None else bias
    return kernel * scale.reshape(-1, 1, 1, 1), bn.bias + scale * (b - bn.running_mean)


def pad_kernel(kernel: torch.Tensor, size: int) -> torch.Tensor:
    """Equation 3: a (out, in, k, k) kernel zero-padded to (out, in, size, size), centred."""
    p = (size - kernel.shape[-1]) // 2
    return F.pad(kernel, [p, p, p, p])


class RepConv(nn.Module):
    """Multi-branch conv block: ``relu(BN(sum_k conv_k(x)))`` (``norm="shared"``) or
    ``relu(sum_k BN_k(conv_k(x)))`` (``norm="branch"``), every conv 'same'-padded.

    Args:
        in_channels, out_channels: conv widths.
        kernels: odd kernel sizes of the parallel branches (STDTrack: 1, 3, 5).
        norm: 'shared' (equations 3-5) or 'branch' (RepVGG); see the module docstring.
        activation: ReLU after the sum (the center head's blocks have one).

    After :meth:`reparameterize` the block is one ``Conv2d(in, out, max(kernels))`` with bias
    (``self.fused``) plus the activation; its branches and norms are gone.
    """

    def __init__(self, in_channels: int, out_channels: int, kernels: tuple[int, ...] = (1, 3, 5),
                 norm: str = "shared", activation: bool = True):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"RepConv norm={norm!r} is not one of {NORMS}")
        if not kernels or any(k < 1 or k % 2 == 0 for k in kernels) or len(set(kernels)) != len(kernels):
            raise ValueError(f"RepConv kernels={kernels}: distinct odd sizes >= 1 (centred padding needs odd)")
        self.kernels = tuple(sorted(kernels))
        self.size = self.kernels[-1]
        self.norm_mode = norm
        shared = norm == "shared"
        self.branches = nn.ModuleList(nn.Conv2d(in_channels, out_channels, k, padding=k // 2, bias=shared)
                                      for k in self.kernels)
        self.norms = nn.ModuleList([nn.BatchNorm2d(out_channels)] if shared else
                                   [nn.BatchNorm2d(out_channels) for _ in self.kernels])
        self.act = nn.ReLU(inplace=True) if activation else nn.Identity()
        self.fused: nn.Conv2d | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused is not None:
            return self.act(self.fused(x))
        if self.norm_mode == "shared":
            y = self.norms[0](sum(conv(x) for conv in self.branches))
        else:
            y = sum(bn(conv(x)) for conv, bn in zip(self.branches, self.norms))
        return self.act(y)

    def equivalent_kernel_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Equations 3-5: the (out, in, K, K) kernel and (out,) bias of the merged conv."""
        if self.norm_mode == "shared":
            kernel = sum(pad_kernel(c.weight, self.size) for c in self.branches)
            bias = sum(c.bias for c in self.branches)
            return fold_batchnorm(kernel, bias, self.norms[0])
        parts = [fold_batchnorm(pad_kernel(c.weight, self.size), None, bn) for c, bn in zip(self.branches, self.norms)]
        return sum(k for k, _ in parts), sum(b for _, b in parts)

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Replace the branches and norms by one conv (in place; idempotent; eval mode only)."""
        if self.fused is not None:
            return
        if self.training:
            raise RuntimeError("RepConv.reparameterize() needs eval mode: BatchNorm in training mode uses batch "
                               "statistics, which no merged conv can reproduce; call .eval() first")
        kernel, bias = self.equivalent_kernel_bias()
        first = self.branches[0]
        fused = nn.Conv2d(first.in_channels, first.out_channels, self.size, padding=self.size // 2, bias=True)
        fused.to(device=kernel.device, dtype=kernel.dtype)
        fused.weight.copy_(kernel)
        fused.bias.copy_(bias)
        self.fused = fused.eval()
        del self.branches, self.norms


def reparameterize_model(model: nn.Module, copy_model: bool = True) -> nn.Module:
    """``model`` (a copy unless ``copy_model=False``) in eval mode with every :class:`RepConv`
    merged into its single conv."""
    model = copy.deepcopy(model) if copy_model else model
    model.eval()
    for m in [m for m in model.modules() if isinstance(m, RepConv)]:  # listed first: merging edits the tree
        m.reparameterize()
    return model
