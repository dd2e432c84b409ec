"""Batch-invariant CPU kernels: a row of a batch gets bit-identical outputs to that row alone.

PyTorch and the BLAS it calls pick kernels, blockings and thread splits per call from the
problem size, so float32 sums may run in another order when more rows share a call and the
last bits of a sequence's output then depend on how many sequences share its batch.
:func:`batch_invariant` reroutes the three kinds of calls where that was seen, for the
duration of a ``with`` block:

* ``Conv2d`` (the box heads, the patch embedding): :func:`batch_invariant_convolutions`.
* ``Linear`` (the ViT's qkv / proj / MLP, bottlenecks): :func:`batch_invariant_linears`.
  ``F.linear`` runs MKL's sgemm on the flattened ``(B * N, K)`` input. MKL's AVX-512 sgemm
  (Intel Xeon) gave identical rows for every row count tried, but its AVX2 sgemm (what an
  AMD EPYC runs; emulated with ``MKL_ENABLE_INSTRUCTIONS=AVX2``) blocks by row count: rows
  of the ViT-sized products differed by up to ~2e-6 between 1 and 2..16 samples, at 1 and
  2 threads, and tracked boxes by up to ~7e-5 px after a few frames. oneDNN's matmul does not.
* batched ``matmul`` / ``@`` / ``bmm`` (candidate elimination's side logits of one template
  row against all keys, ``(B, H, 1, d) @ (B, H, d, N)``): :func:`batch_invariant_matmuls`.
  ATen's bmm over ``B * H`` one-row products summed differently for 1 and 2..16 samples on
  both ISAs (in the last bits); it only moves the CE scores, so boxes change only
  where two scores nearly tie, but then a different token is dropped. Each sample's product
  now runs as its own call. This part is a torch function mode: it acts on every matmul the
  current thread makes inside the block, the model's or not.

Everything else the CPU presets run (LayerNorm, softmax, GELU, fused attention, sort /
gather, elementwise math) gave identical rows under AVX-512 and AVX2 kernels when checked
op by op. Nothing here is a proof: the guarantee is what
``tests/test_batch_invariance.py`` checks (the CPU presets' forward, batches of 1, 2, 3 and
16, native ISA and emulated AVX2 at 1 and 2 threads). Other devices and dtypes keep the
stock kernels, and so do Linear calls that need gradients (oneDNN's linear has no backward).
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


@contextlib.contextmanager
def batch_invariant(model: torch.nn.Module):
    """Inside the block, every float32 CPU ``Conv2d`` and ``Linear`` of ``model`` and every
    batched float32 CPU matmul gives each batch row the bits it would get alone (see the
    module docstring for what was checked)."""
    with batch_invariant_convolutions(model), batch_invariant_linears(model), batch_invariant_matmuls():
        yield


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
    with _patched_forwards(model, lambda m: type(m) is torch.nn.Conv2d and m.padding_mode == "zeros"
                           and isinstance(m.padding, tuple), _onednn_forward):
        yield


@contextlib.contextmanager
def _patched_forwards(model: torch.nn.Module, which, make_forward):
    """Give every module of ``model`` that ``which`` selects the forward ``make_forward(module)``
    (an instance attribute shadowing the class method) for the duration of the block."""
    patched = [m for m in model.modules() if which(m)]
    for m in patched:
        m.forward = make_forward(m)
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


@contextlib.contextmanager
def batch_invariant_linears(model: torch.nn.Module):
    """Run every float32 CPU ``Linear`` of ``model`` through oneDNN's matmul, whatever the
    batch size.

    oneDNN's matmul (``torch.ops.mkldnn._linear_pointwise``, the kernel TorchInductor uses)
    gave identical rows for 1, 2, 3, 5 and 16 samples of 2 to 320 rows each (K 3..768, out
    64..3072, AVX-512 and AVX2, 1 and 2 threads), at the speed of ``F.linear``. A product of
    a single row goes to its matrix-vector kernel, which sums in another order than the
    matrix kernel that a batch of such rows gets, so an input with one row per sample
    (``(B, K)`` or ``(B, 1, K)``) is multiplied one sample at a time: each sample then runs
    exactly the call it runs alone. The op has no backward, so a call that needs gradients
    keeps ``nn.Linear``'s forward (and no invariance).
    """
    with _patched_forwards(model, lambda m: type(m) is torch.nn.Linear, _onednn_linear_forward):
        yield


def _onednn_linear_forward(linear: torch.nn.Linear):
    def forward(x):
        w, b = linear.weight, linear.bias
        needs_grad = torch.is_grad_enabled() and (x.requires_grad or w.requires_grad
                                                  or (b is not None and b.requires_grad))
        if (x.device.type != "cpu" or x.dtype != torch.float32 or x.dim() < 2 or needs_grad
                or not torch.backends.mkldnn.is_available()):
            return F.linear(x, w, b)
        if x.numel() // (x.shape[0] * x.shape[-1]) == 1:  # one row per sample
            return torch.cat([_onednn_linear(row, w, b) for row in x.split(1)])
        return _onednn_linear(x, w, b)
    return forward


def _onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


@contextlib.contextmanager
def batch_invariant_matmuls():
    """Inside the block (this thread), a float32 CPU ``torch.matmul`` / ``@`` / ``bmm`` of a
    batched left operand ``(B, ..., M, K)``, B > 1, runs as B calls, one per sample (the right
    operand split along dim 0 when it has the same leading size and rank, else shared), so each
    sample's product is exactly the call it makes alone. Other calls pass through unchanged.
    Not covered: ``einsum``, ``baddbmm``, ``addmm`` and other spellings of a product."""
    with _PerSampleMatmul():
        yield


class _PerSampleMatmul(TorchFunctionMode):
    _FUNCS = {torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.bmm, torch.Tensor.bmm}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self._FUNCS and not kwargs and len(args) == 2 and _per_sample(*args):
            a, b = args
            bs = b.split(1) if b.dim() == a.dim() and b.shape[0] == a.shape[0] else [b] * a.shape[0]
            return torch.cat([func(x, y) for x, y in zip(a.split(1), bs)])
        return func(*args, **kwargs)  # the mode is off inside its own handler: no recursion


def _per_sample(a, b) -> bool:
    return (torch.is_tensor(a) and torch.is_tensor(b) and a.device.type == "cpu" and a.dtype == torch.float32
            and a.dim() >= 3 and a.shape[0] > 1 and 2 <= b.dim() <= a.dim())
