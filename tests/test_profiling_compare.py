"""Interleaved A/B latency: the order of passes, what is timed, and that it tells models apart."""
from __future__ import annotations

import time

import pytest
import torch

from trackkit.profiling import compare_costs, compare_latency, measure_latency, model_costs


class Logged(torch.nn.Module):
    """Appends its name to a shared log on every pass and sleeps ``sleep_s``."""

    def __init__(self, name: str, log: list, sleep_s: float = 0.0):
        super().__init__()
        self.name, self.log, self.sleep_s = name, log, sleep_s

    def forward(self, x):
        self.log.append(self.name)
        if self.sleep_s:
            time.sleep(self.sleep_s)
        return x


def test_rounds_alternate_which_model_goes_first_warmup_included():
    log: list[str] = []
    out = compare_latency({"a": Logged("a", log), "b": Logged("b", log)}, (torch.zeros(1),), warmup=2, runs=3)
    assert log == ["a", "b", "b", "a", "a", "b", "b", "a", "a", "b"]  # 2 warm-up + 3 timed rounds
    assert {k: (v["runs"], v["warmup"], len(v["times_ms"])) for k, v in out.items()} == {
        "a": (3, 2, 3), "b": (3, 2, 3)}


def test_each_model_gets_its_own_inputs():
    seen = {}

    class Shape(torch.nn.Module):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def forward(self, x, y):
            seen[self.name] = (tuple(x.shape), tuple(y.shape))

    compare_latency({"small": Shape("small"), "big": Shape("big")},
                    {"small": (torch.zeros(1, 4), torch.zeros(2)), "big": (torch.zeros(1, 8), torch.zeros(3))},
                    warmup=0, runs=1)
    assert seen == {"small": ((1, 4), (2,)), "big": ((1, 8), (3,))}
    with pytest.raises(ValueError, match="no inputs for big"):
        compare_latency({"small": Shape("small"), "big": Shape("big")}, {"small": (torch.zeros(1), torch.zeros(1))})
    with pytest.raises(ValueError, match="runs=0"):
        compare_latency({"small": Shape("small")}, (torch.zeros(1), torch.zeros(1)), runs=0)


def test_a_slower_model_times_slower_and_the_stats_are_ordered():
    log: list[str] = []
    out = compare_latency({"slow": Logged("slow", log, 0.010), "fast": Logged("fast", log)}, (torch.zeros(1),),
                          warmup=1, runs=7)
    # the sleep bounds the slow model from below; a busy machine can slow the other one by ms too
    assert out["slow"]["median"] >= 10.0 and out["fast"]["median"] < out["slow"]["median"]
    for v in out.values():
        assert v["p10"] <= v["median"] <= v["p90"]


def test_measure_latency_is_compare_latency_of_one_model():
    log: list[str] = []
    r = measure_latency(Logged("m", log, 0.002), (torch.zeros(1),), warmup=2, runs=5)
    assert set(r) == {"median", "p10", "p90", "runs"} and r["runs"] == 5 and r["median"] >= 2.0
    assert log == ["m"] * 7


def test_model_costs_counts_on_the_cpu():
    net = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 5))
    c = model_costs(net, (torch.zeros(1, 10),))
    assert c["params_m"] == (10 * 20 + 20 + 20 * 5 + 5) / 1e6
    assert c["macs_g"] == pytest.approx((10 * 20 + 20 * 5) / 1e9)  # thop: one MAC per weight at batch 1
    assert c["flops_g"] == pytest.approx(2 * (10 * 20 + 20 * 5) / 1e9)


def test_compare_costs_counts_each_and_times_them_together():
    log: list[str] = []

    class Slow(torch.nn.Module):
        def __init__(self, width, sleep_s):
            super().__init__()
            self.lin, self.sleep_s = torch.nn.Linear(width, width), sleep_s

        def forward(self, x):
            log.append(self.sleep_s)
            time.sleep(self.sleep_s)
            return self.lin(x)

    out = compare_costs({"big": Slow(8, 0.010), "small": Slow(4, 0.0)},
                        {"big": (torch.zeros(1, 8),), "small": (torch.zeros(1, 4),)}, warmup=1, runs=4)
    assert out["big"]["macs_g"] == pytest.approx(64 / 1e9) and out["small"]["params_m"] == 20 / 1e6
    assert out["big"]["latency_ms"] >= 10.0 and out["small"]["latency_ms"] < out["big"]["latency_ms"]
    assert out["big"]["fps"] == 1e3 / out["big"]["latency_ms"]
    # counting runs each model twice (MACs, FLOPs), one model after the other; then the timing:
    # interleaved, the order swapped every round
    assert log[:4] == [0.010, 0.010, 0.0, 0.0] and log[4:8] == [0.010, 0.0, 0.0, 0.010]
