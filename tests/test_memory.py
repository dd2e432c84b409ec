"""trackkit.study.memory: training cost measured in a fresh process."""
from __future__ import annotations

import pytest

from trackkit.errors import TrackkitError
from trackkit.families import build_model, get_preset
from trackkit.study.memory import measure_training
from trackkit.study.shared import SyntheticData

DATA = SyntheticData("easy", 2, 20)
SMALL = ["train.batch_size=2", "train.num_workers=0"]


def test_frozen_and_full_backbones_measured_in_fresh_processes():
    frozen = get_preset("actrack-cpu", SMALL)
    full = get_preset("actrack-cpu", SMALL + ["model.trainable=all"])
    a = measure_training(frozen, DATA, steps=2, warmup=1, threads=1)
    b = measure_training(full, DATA, steps=2, warmup=1, threads=1)
    for r, p in ((a, frozen), (b, full)):
        model = build_model(p)
        trainable = [q for q in model.parameters() if q.requires_grad]
        assert r["trainable_params"] == sum(q.numel() for q in trainable)
        assert r["total_params"] == sum(q.numel() for q in model.parameters())
        # AdamW: exp_avg and exp_avg_sq per trainable float32 value, one float32 step per tensor
        assert r["optimizer_state_bytes"] == 8 * r["trainable_params"] + 4 * len(trainable)
        assert r["peak_rss_mb"] >= r["rss_before_mb"] > 50  # torch alone is more than 50 MB
        assert r["s_per_step"] > 0 and r["steps"] == 2 and r["threads"] == 1
        assert r["cuda_max_allocated_mb"] is None
    assert b["trainable_params"] > a["trainable_params"]


def test_a_failing_measurement_names_the_preset():
    with pytest.raises(TrackkitError, match="actrack-cpu"):
        measure_training(get_preset("actrack-cpu", SMALL + ["model.init_tracker=/nonexistent.pth"]), DATA, steps=1)
    with pytest.raises(ValueError):
        measure_training(get_preset("actrack-cpu"), DATA, steps=0)


def test_costs_are_measured_once_per_settings(tmp_path, monkeypatch):
    import trackkit.study.memory as memory

    calls = []
    monkeypatch.setattr(memory, "measure_training", lambda p, d, **kw: calls.append(p.name) or {"s_per_step": 1.0})
    p = get_preset("actrack-cpu", SMALL)
    a = memory.cached_cost(tmp_path, p, DATA, steps=2, log=None)
    assert memory.cached_cost(tmp_path, p, DATA, steps=2, log=None) == a and calls == ["actrack-cpu"]
    memory.cached_cost(tmp_path, p, DATA, steps=3, log=None)
    memory.cached_cost(tmp_path, get_preset("actrack-cpu", SMALL + ["model.trainable=all"]), DATA, steps=2, log=None)
    assert len(calls) == 3 and a["key"] and (tmp_path / "costs" / a["key"] / "cost.json").is_file()


def test_adaptation_arms_differ_only_in_backbone_policy_and_additive_net():
    from trackkit.families.actrack import adaptation_presets

    arms = adaptation_presets(get_preset("actrack-cpu"), "w.pth", last_k=2, overrides=["train.epochs=3"])
    m = {k: (p.model.trainable, p.model.side_channels, p.model.init_tracker, p.train.epochs) for k, p in arms.items()}
    assert m == {"full": ("all", 0, "w.pth", 3), "actrack": ("none", 32, "w.pth", 3),
                 "head": ("none", 0, "w.pth", 3), "lastk": ("last:2", 0, "w.pth", 3)}
