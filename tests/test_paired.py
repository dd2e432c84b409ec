"""Paired bootstrap of a difference between two trackers on the same sequences."""
from __future__ import annotations

import numpy as np
import pytest

from trackkit.eval import evaluate
from trackkit.eval.bootstrap import bootstrap_ratio
from trackkit.eval.paired import paired_difference, paired_ratio_replicates, percentile_interval
from trackkit.eval.synthetic import perturbed_results, synthetic_dataset


@pytest.fixture(scope="module")
def two_trackers():
    ds = synthetic_dataset(12, 30, seed=3)
    good = evaluate(ds, perturbed_results(ds, seed=4, runs=1, noise=0.05), "got10k")
    bad = evaluate(ds, perturbed_results(ds, seed=5, runs=1, noise=0.4), "got10k")
    return ds, good, bad


def _parts(num, den):
    return np.stack([np.asarray(num, float), np.asarray(den, float)], axis=-1)[:, None, :]


def test_a_constant_per_sequence_shift_has_a_zero_width_interval():
    """When A beats B by exactly 0.1 on every sequence (equal frame counts), every paired
    replicate is 0.1: the sequences' own spread cancels. Unpaired, it would not."""
    rng = np.random.default_rng(0)
    frames = np.full(20, 50.0)
    ao_b = rng.uniform(0.1, 0.8, 20)
    a, b = _parts((ao_b + 0.1) * frames, frames), _parts(ao_b * frames, frames)
    d = paired_ratio_replicates(a, b, n_boot=500, seed=3)
    assert np.allclose(d, 0.1, atol=1e-12)
    unpaired = bootstrap_ratio(a, 500, seed=3) - bootstrap_ratio(b, 500, seed=4)
    assert np.ptp(unpaired) > 0.05  # what the pairing removes


def test_difference_of_identical_results_is_exactly_zero(two_trackers):
    _, good, _ = two_trackers
    df = paired_difference(good, good, ("ao", "sr50"), n_boot=300)
    assert (df[["estimate", "lo", "hi"]] == 0).all().all()
    assert (df["valid"] == 300).all() and (df["sequences"] == 12).all()


def test_estimate_is_the_protocols_difference_and_the_pairing_narrows_the_interval(two_trackers):
    _, good, bad = two_trackers
    d = paired_difference(good, bad, ("ao", "sr50", "sr75"), n_boot=1000, seed=0)
    for m in ("ao", "sr50", "sr75"):
        assert d.loc[m, "estimate"] == good.summary[m] - bad.summary[m]
        assert d.loc[m, "lo"] <= d.loc[m, "estimate"] <= d.loc[m, "hi"]
    # the same difference from independent draws (another seed for B) is wider: both results
    # share the sequences' lengths and difficulty, which the pairing cancels
    unpaired = (bootstrap_ratio(good.parts("ao"), 1000, seed=0) - bootstrap_ratio(bad.parts("ao"), 1000, seed=1))
    lo, hi = percentile_interval(unpaired)
    assert d.loc["ao", "hi"] - d.loc["ao", "lo"] < hi - lo
    assert d.loc["ao", "lo"] > 0  # the low-noise tracker is better, and the pairing shows it


def test_same_numbers_as_two_same_seed_bootstraps(two_trackers):
    """The convention the ECE notebook used inline (and whose numbers its records hold): two
    bootstrap_ratio calls with seed 0, finite differences, 2.5 / 97.5% quantiles."""
    _, good, bad = two_trackers
    a = bootstrap_ratio(good.parts("ao"), n_boot=700, seed=0)
    b = bootstrap_ratio(bad.parts("ao"), n_boot=700, seed=0)
    diff = (a - b)[np.isfinite(a - b)]
    lo, hi = np.quantile(diff, [0.025, 0.975])
    row = paired_difference(good, bad, ("ao",), n_boot=700, seed=0).loc["ao"]
    assert (row["lo"], row["hi"]) == (lo, hi)  # bit for bit


def test_percentile_interval():
    x = np.random.default_rng(1).normal(size=999)
    assert percentile_interval(x, 0.9) == tuple(np.quantile(x, [0.05, 0.95]))
    assert percentile_interval(np.r_[x, np.nan, np.inf], 0.95) == percentile_interval(x, 0.95)
    assert all(np.isnan(percentile_interval([np.nan], 0.95)))
    with pytest.raises(ValueError, match="level"):
        percentile_interval(x, 95)


def test_mismatched_sequences_are_refused(two_trackers):
    ds, good, _ = two_trackers
    first11 = list(ds)[:11]
    fewer = evaluate(first11, perturbed_results(first11, seed=4, runs=1, noise=0.05), "got10k")
    with pytest.raises(ValueError, match="sequences differ"):
        paired_difference(good, fewer, ("ao",))
    with pytest.raises(ValueError, match="same sequences"):
        paired_ratio_replicates(good.parts("ao"), fewer.parts("ao"))
