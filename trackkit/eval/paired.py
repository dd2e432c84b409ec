"""Paired bootstrap of the difference between two trackers scored on the same sequences.

Both result sets are resampled with the SAME sequence draws (``trackkit.eval.bootstrap``'s
``bootstrap_ratio`` with one seed: it draws the multinomial sequence weights first, so equal
seeds and equal sequence counts give equal draws), and each replicate's difference
``metric(A) - metric(B)`` is taken before the percentiles. What both trackers find hard
cancels, so the interval of the difference is much tighter than either tracker's own.

Conventions as in ``trackkit.eval.bootstrap``: a metric is a ratio of per-sequence sums;
replicates whose ratio is undefined (a resample with zero denominator) are dropped; the
estimate is the protocols' own difference of summaries, the interval comes from the
replicates. One reading to note: every metric uses the same ``seed`` (``bootstrap_ci`` offsets
it per metric), so all metrics of one call are judged on the same resampled test sets.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from trackkit.eval.bootstrap import bootstrap_ratio

__all__ = ["paired_difference", "paired_ratio_replicates", "percentile_interval"]


def percentile_interval(replicates, level: float = 0.95) -> tuple[float, float]:
    """(lo, hi): the central ``level`` percentile interval of the finite ``replicates``; NaNs
    when none is finite. Positions are computed in percent (2.5 / 97.5 for 0.95), which lands
    exactly on the decimal percentiles."""
    if not 0 < level < 1:
        raise ValueError(f"level={level}: must be strictly between 0 and 1")
    reps = np.asarray(replicates, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return math.nan, math.nan
    pct = 100 * level
    lo, hi = np.percentile(reps, [(100 - pct) / 2, (100 + pct) / 2])
    return float(lo), float(hi)


def paired_ratio_replicates(parts_a: np.ndarray, parts_b: np.ndarray, n_boot: int = 1000, seed: int = 0,
                            over_runs: bool = True) -> np.ndarray:
    """``(n_boot,)`` replicates of ``ratio(A) - ratio(B)``, both from the same sequence draws.

    ``parts_*``: ``(S, R, 2)`` per-sequence, per-run (numerator, denominator), as
    ``EvalResult.parts`` gives them, rows in the same sequence order. Non-finite differences
    are kept (NaN) so the caller sees how many replicates were undefined.
    """
    a, b = np.asarray(parts_a, dtype=np.float64), np.asarray(parts_b, dtype=np.float64)
    if a.ndim != 3 or b.ndim != 3 or a.shape[2] != 2 or b.shape[2] != 2:
        raise ValueError(f"parts must have shape (sequences, runs, 2); got {a.shape} and {b.shape}")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"paired bootstrap needs the same sequences: {a.shape[0]} vs {b.shape[0]} rows")
    if over_runs and max(a.shape[1], b.shape[1]) > 1 and a.shape[1] != b.shape[1]:
        raise ValueError(f"paired bootstrap over runs needs the same number of runs: {a.shape[1]} vs {b.shape[1]}")
    ra = bootstrap_ratio(a, n_boot=n_boot, seed=seed, over_runs=over_runs)
    rb = bootstrap_ratio(b, n_boot=n_boot, seed=seed, over_runs=over_runs)  # same seed: same resamples
    return ra - rb


def paired_difference(result_a, result_b, metrics, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                      over_runs: bool = True) -> pd.DataFrame:
    """Difference A - B of two :class:`~trackkit.eval.api.EvalResult` on the same sequences.

    Returns one row per metric (index ``metric``) with ``estimate`` (the difference of the
    protocols' summaries), ``lo``, ``hi`` (percentile interval of the paired replicates), ``std``,
    ``level``, ``n_boot``, ``sequences`` and ``valid`` (finite replicates), in the results' units
    (fractions for AO / SR). Raises ValueError when the two results do not cover the same
    sequences in the same order.
    """
    names_a, names_b = list(result_a.per_sequence.index), list(result_b.per_sequence.index)
    if names_a != names_b:
        only = sorted(set(names_a) ^ set(names_b))
        why = f"sequences differ ({', '.join(map(str, only[:5]))}{', ...' if len(only) > 5 else ''})" if only \
            else "same sequences in another order"
        raise ValueError(f"paired bootstrap of {result_a.tracker or 'A'} vs {result_b.tracker or 'B'}: {why}")
    rows = []
    for m in metrics:
        d = paired_ratio_replicates(result_a.parts(m), result_b.parts(m), n_boot=n_boot, seed=seed,
                                    over_runs=over_runs)
        finite = d[np.isfinite(d)]
        lo, hi = percentile_interval(finite, level)
        rows.append({"metric": m, "estimate": result_a.summary[m] - result_b.summary[m], "lo": lo, "hi": hi,
                     "std": float(finite.std(ddof=1)) if finite.size > 1 else math.nan, "level": level,
                     "n_boot": n_boot, "sequences": len(names_a), "valid": int(finite.size)})
    return pd.DataFrame(rows).set_index("metric")
