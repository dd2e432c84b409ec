"""Inside ``batch_invariant(model)`` every row of a batch gets the bits it gets alone.

The CPU presets' forward is checked on batches of 1, 2, 3 and 16 rows on this CPU's own
kernels, and in subprocesses with an AVX2-only CPU's kernels emulated (AMD EPYC: MKL's AVX2
sgemm blocks by row count; without the Linear routing rows differed by ~1e-7 there), at 1 and
2 threads. The ISA settings are read when torch loads, hence the subprocesses.

    python tests/test_batch_invariance.py PRESET[,PRESET...]   # the check alone, exit 1 on a difference
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from trackkit.track import invariance

CPU_PRESETS = ["ostrack-cpu", "ostrack-cpu-noce", "simtrack-cpu"]
BATCHES = (1, 2, 3, 16)
AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def _tensors(out: dict) -> dict:
    """Every tensor of a forward's output dict (lists such as keep_indices flattened)."""
    flat = {}
    for k, v in out.items():
        if torch.is_tensor(v):
            flat[k] = v
        elif isinstance(v, (list, tuple)):
            flat.update({f"{k}[{i}]": t for i, t in enumerate(v) if torch.is_tensor(t)})
    return flat


def row_differences(preset: str) -> list[str]:
    """Rows of the preset's forward on batches of ``BATCHES`` that are not bit-identical to the
    same row run alone, as readable lines (empty: invariant)."""
    from trackkit.families import build_model, get_preset

    torch.manual_seed(0)
    p = get_preset(preset)
    model = build_model(p, load_pretrained_weights=False).eval()
    t, s, n = p.track.template_size, p.track.search_size, max(BATCHES)
    g = torch.Generator().manual_seed(1)
    z, x = torch.randn(n, 3, t, t, generator=g), torch.randn(n, 3, s, s, generator=g)
    # template boxes (normalised x1, y1, w, h) around the crop centre, as the tracker makes them
    wh = 0.2 + 0.2 * torch.rand(n, 2, generator=g)
    zbox = torch.cat([0.5 - wh / 2, wh], dim=1)
    bad = []
    with torch.inference_mode(), invariance.batch_invariant(model):
        alone = [_tensors(model(z[i:i + 1], x[i:i + 1], template_box=zbox[i:i + 1])) for i in range(n)]
        for b in BATCHES:
            out = _tensors(model(z[:b], x[:b], template_box=zbox[:b]))
            for key, v in out.items():
                for i in range(b):
                    if not torch.equal(v[i:i + 1], alone[i][key]):
                        d = (v[i:i + 1].double() - alone[i][key].double()).abs().max().item()
                        bad.append(f"{preset} batch {b} row {i} {key}: max |diff| {d:.3g}")
    return bad


@pytest.mark.parametrize("preset", CPU_PRESETS)
def test_cpu_preset_rows_equal_alone(preset):
    assert row_differences(preset) == []


@pytest.mark.parametrize("threads", [1, 2])
def test_cpu_presets_rows_equal_alone_with_avx2_kernels(threads):
    env = dict(os.environ, **AVX2_ENV, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    r = subprocess.run([sys.executable, __file__, ",".join(CPU_PRESETS)], env=env, capture_output=True,
                       text=True, timeout=1200)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"capability AVX2, threads {threads}" in r.stdout  # the emulation took effect


def test_one_row_per_sample_linear():
    """(B, K) inputs go through oneDNN one sample at a time (its one-row product takes another
    kernel than a many-row one); each row equals itself alone."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(128, 512)
    x = torch.randn(16, 128)
    with torch.inference_mode(), invariance.batch_invariant(lin):
        y = lin(x)
        assert all(torch.equal(y[i:i + 1], lin(x[i:i + 1])) for i in range(16))
    assert torch.allclose(y, torch.nn.functional.linear(x, lin.weight, lin.bias), atol=1e-5)
    assert "forward" not in vars(lin)  # the class forward is back after the block


def test_candidate_elimination_side_matmul():
    """One template row against all keys, (B, H, 1, d) @ (B, H, d, N): ATen's bmm sums such
    products differently for 1 and several samples (seen with AVX-512 and AVX2 kernels)."""
    torch.manual_seed(0)
    q = torch.randn(16, 4, 1, 32)
    k = torch.randn(16, 80, 3, 4, 32).permute(2, 0, 3, 1, 4)[1]  # k as the attention unbinds it
    with invariance.batch_invariant_matmuls():
        y = q @ k.transpose(-2, -1)
        assert all(torch.equal(y[i:i + 1], q[i:i + 1] @ k[i:i + 1].transpose(-2, -1)) for i in range(16))
        assert torch.equal(torch.matmul(q[0], k[0].transpose(-2, -1)), q[0] @ k[0].transpose(-2, -1))
    assert torch.allclose(y, q @ k.transpose(-2, -1), atol=1e-5)


def test_gradients_keep_the_module_forward():
    """oneDNN's linear has no backward: with gradients on, nn.Linear's own forward runs."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 4)
    x = torch.randn(3, 5, 8)
    with invariance.batch_invariant(lin):
        lin(x).sum().backward()
    assert torch.allclose(lin.weight.grad, torch.ones(3, 5, 4).flatten(0, 1).t() @ x.flatten(0, 1))


def main(argv: list[str]) -> int:
    print(f"capability {torch.backends.cpu.get_cpu_capability()}, threads {torch.get_num_threads()}")
    bad = [line for preset in argv[0].split(",") for line in row_differences(preset)]
    print("\n".join(bad[:40]) or "all rows equal alone")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
