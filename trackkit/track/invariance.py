"""Kernels whose rows do not depend on the batch size, so batched tracking equals one-at-a-time.

(Moved here from trackkit/track/tracker.py; being extended for other CPUs.)
"""
from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def batch_invariant_convolutions(model: torch.nn.Module):
    """Run every float32 CPU ``Conv2d`` of ``model`` through oneDNN, whatever the batch size.

    PyTorch picks the CPU convolution kernel per call: its native im2col + GEMM for a single
    small input, oneDNN from batch 2 (NNPACK from 16 when oneDNN is off); the native kernel's
    GEMM threads differently when it runs alone than inside the per-sample parallel loop. Each
    sums in another order, so a sequence's boxes would depend on how many sequences share its
    batch. oneDNN's direct convolution gave identical rows for batch 1, 2, 3 and 16 on every
    head / patch-embedding shape tried (contiguous and channels-last inputs). Other devices,
    dtypes and padding modes keep the module's own forward.
    """
    patched = []
    for m in model.modules():
        if type(m) is torch.nn.Conv2d and m.padding_mode == "zeros" and isinstance(m.padding, tuple):
            m.forward = _onednn_forward(m)  # instance attribute shadows the class method
            patched.append(m)
    try:
        yield
    finally:
        for m in patched:
            del m.forward


def _onednn_forward(conv: torch.nn.Conv2d):
    def forward(x):
        if x.device.type != "cpu" or x.dtype != torch.float32 or not torch.backends.mkldnn.is_available():
            return torch.nn.Conv2d.forward(conv, x)
        # one memory layout for every batch size (a token map reshaped to B, C, H, W is
        # channels-last-like, with a batch stride that depends on B)
        return torch.mkldnn_convolution(x.contiguous(), conv.weight, conv.bias, conv.padding, conv.stride,
                                        conv.dilation, conv.groups)
    return forward


batch_invariant = batch_invariant_convolutions

