"""Bootstrap confidence intervals over sequences (and over repetitions when present).

Each metric is a ratio of per-sequence sums, ``sum(num) / sum(den)`` (AO: IoU sum over
frames; AUC: one per-sequence AUC over one), so a bootstrap replicate is a weighted ratio with
multinomial sequence weights -- one matrix product for all replicates. With repetitions, each
replicate also resamples the runs inside every sequence (two-level bootstrap).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["bootstrap_ci", "bootstrap_ratio"]


def bootstrap_ratio(parts: np.ndarray, n_boot: int = 1000, seed: int = 0, over_runs: bool = True) -> np.ndarray:
    """Replicates of ``sum(num) / sum(den)`` from ``parts`` of shape ``(S, R, 2)`` (NaN-padded
    runs). Returns ``(n_boot,)``. Deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    S, R, _ = parts.shape
    have = ~np.isnan(parts[..., 0])
    n_runs = have.sum(axis=1)
    num = np.nan_to_num(parts[..., 0])
    den = np.nan_to_num(parts[..., 1])
    seq_w = rng.multinomial(S, np.full(S, 1.0 / S), size=n_boot).astype(np.float64)  # (B, S)
    if over_runs and R > 1:
        # resample n_r runs with replacement inside each sequence: counts per run
        u = rng.random((n_boot, S, R))
        pick = np.floor(u * n_runs[None, :, None]).astype(np.int64)  # index among available runs
        pick = np.where(np.arange(R)[None, None, :] < n_runs[None, :, None], pick, -1)
        run_w = np.zeros((n_boot, S, R))
        for r in range(R):
            run_w += pick[..., r:r + 1] == np.arange(R)[None, None, :]
        run_w /= n_runs[None, :, None]
        seq_num = (run_w * num[None]).sum(-1)
        seq_den = (run_w * den[None]).sum(-1)
        tot_num = (seq_w * seq_num).sum(1)
        tot_den = (seq_w * seq_den).sum(1)
    else:
        seq_num = num.sum(1) / n_runs
        seq_den = den.sum(1) / n_runs
        tot_num = seq_w @ seq_num
        tot_den = seq_w @ seq_den
    with np.errstate(invalid="ignore", divide="ignore"):
        return tot_num / tot_den


def bootstrap_ci(result, metrics, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                 over_runs: bool = True) -> pd.DataFrame:
    """Percentile intervals for ``metrics`` of an :class:`~trackkit.eval.api.EvalResult`.

    Columns: metric, estimate (the protocol's own number), lo, hi, std, level, n_boot,
    sequences. The estimate is the exact protocol summary; the interval comes from the
    additive parts, so for pytracking (float32) or LaSOT (dropped zero curves) it is centred
    on a number that can differ from the estimate in the last digits.
    """
    rows = []
    alpha = (1.0 - level) / 2.0
    for i, m in enumerate(metrics):
        p = result.parts(m)
        reps = bootstrap_ratio(p, n_boot=n_boot, seed=seed + i, over_runs=over_runs)
        reps = reps[np.isfinite(reps)]
        lo, hi = np.quantile(reps, [alpha, 1 - alpha]) if len(reps) else (np.nan, np.nan)
        rows.append({"metric": m, "estimate": result.summary.get(m), "lo": float(lo), "hi": float(hi),
                     "std": float(reps.std(ddof=1)) if len(reps) > 1 else np.nan, "level": level,
                     "n_boot": n_boot, "sequences": p.shape[0]})
    return pd.DataFrame(rows).set_index("metric")
