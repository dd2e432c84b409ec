"""MACs in the papers' convention, FLOPs, and the profile CLI/API."""
from __future__ import annotations

import json

import pytest
import torch

from trackkit.cli import main as cli_main
from trackkit.families import build_model, get_preset
from trackkit.families import profile_preset
from trackkit.profiling import count_flops, count_macs, example_inputs




def zero_model(name):
    """The preset's network with all-zero weights, built without timm's (slow) random init:
    thop's counts depend only on shapes and CE token counts, which do not depend on weights."""
    p = get_preset(name)
    with torch.device("meta"):
        m = build_model(p, load_pretrained_weights=False)
    m = m.to_empty(device="cpu")
    with torch.no_grad():
        for t in list(m.parameters()) + list(m.buffers()):
            t.zero_()
    return m.eval(), p


# OSTrack's Table 3 (29.0 / 21.5 / 65.3 / 48.3) and the ViT-Tiny figures of ecosystem.md
@pytest.mark.parametrize("name,gmacs", [
    ("ostrack-b256-noce", 29.0), ("ostrack-b256", 21.5),
    ("ostrack-b384-noce", 65.3), ("ostrack-b384", 48.3),
    ("ostrack-tiny", 2.39), ("ostrack-tiny-ce", 1.92),
])
def test_paper_macs(name, gmacs):
    m, p = zero_model(name)
    macs = count_macs(m, example_inputs(p)[:2], copy=False) / 1e9
    assert abs(macs - gmacs) < (0.1 if gmacs > 10 else 0.01), macs


def test_flops_count_attention_and_ce():
    p = get_preset("ostrack-cpu-noce")
    m = build_model(p).eval()
    inputs = example_inputs(p)
    macs, flops = count_macs(m, inputs), count_flops(m, inputs)
    # thop misses the attention matmuls: 4 * N^2 * D MACs per block (QK^T and AV)
    N, D = 16 + 64, p.model.embed_dim
    attn = 2 * p.model.depth * N * N * D
    assert flops > 2 * macs - 1e6  # every Linear/Conv MAC is 2 FLOPs; norms are extra in thop
    assert abs(flops - (2 * macs + 2 * attn)) < 0.02 * flops
    m_ce = build_model(get_preset("ostrack-cpu")).eval()
    assert count_flops(m_ce, inputs) < flops


def test_count_macs_leaves_model_clean():
    p = get_preset("ostrack-cpu")
    m = build_model(p).eval()
    keys = set(m.state_dict())
    count_macs(m, example_inputs(p))
    assert set(m.state_dict()) == keys  # thop's counters went to a copy


def test_profile_api_and_cli(capsys):
    r = profile_preset("ostrack-cpu", warmup=1, runs=3)
    assert {"params", "macs", "flops", "latency_ms"} <= set(r)
    assert r["latency_label"] == "model-only" and r["batch"] == 1
    assert r["params"] == sum(t.numel() for t in build_model(get_preset("ostrack-cpu")).parameters())
    assert r["latency_ms"] > 0
    assert cli_main(["profile", "--preset", "simtrack-cpu", "--json", "--runs", "2",
                     "--warmup", "1"]) == 0
    j = json.loads(capsys.readouterr().out)
    assert j["preset"] == "simtrack-cpu" and j["macs"] > 0 and j["flops"] > j["macs"]
    assert cli_main(["profile", "--preset", "ostrack-cpu", "--no-latency"]) == 0
    assert "MACs" in capsys.readouterr().out


def test_profile_unknown_preset(capsys):
    assert cli_main(["profile", "--preset", "nope"]) == 2
    assert "ostrack-b256" in capsys.readouterr().err
