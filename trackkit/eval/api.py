"""Python API: score a result set under a protocol and get pandas tables back."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from trackkit.data.sequence import Dataset, Sequence
from trackkit.errors import DataError
from trackkit.eval.protocols import PROTOCOLS, Protocol, SeqScore, get_protocol
from trackkit.eval.results import ResultSet, SequenceResult, read_results

__all__ = ["EvalResult", "evaluate", "evaluate_all_protocols"]


@dataclass
class EvalResult:
    """One result set scored under one protocol.

    Attributes:
        protocol: protocol name.
        summary: metric -> value (fractions in [0, 1]; ``fps`` None when no times).
        per_sequence: one row per sequence (index: sequence name).
        curves: curve name -> DataFrame(threshold, value) of the overall curve.
        scores: the per-sequence :class:`SeqScore` objects (for bootstrap / attribute tables).
    """

    protocol: str
    summary: dict
    per_sequence: pd.DataFrame
    curves: dict[str, pd.DataFrame]
    scores: list[SeqScore] = field(repr=False, default_factory=list)
    tracker: str = ""

    def parts(self, metric: str) -> np.ndarray:
        """``(S, R, 2)`` per-sequence, per-run (numerator, denominator); NaN where a sequence
        has fewer runs. ``metric == sum(num) / sum(den)`` over any subset (up to the
        protocol's own rounding: pytracking's float32, LaSOT's dropped zero curves)."""
        rows = [s.parts.get(metric) for s in self.scores]
        if any(r is None for r in rows):
            raise KeyError(f"metric {metric!r} is not available for every sequence")
        R = max(len(r) for r in rows)
        out = np.full((len(rows), R, 2), np.nan)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out

    def bootstrap(self, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                  metrics: tuple[str, ...] | None = None, over_runs: bool = True) -> pd.DataFrame:
        from trackkit.eval.bootstrap import bootstrap_ci

        metrics = metrics or tuple(m for m in self.summary if self.summary[m] is not None
                                   and all(m in s.parts for s in self.scores))
        return bootstrap_ci(self, metrics, n_boot=n_boot, level=level, seed=seed, over_runs=over_runs)

    def to_dict(self) -> dict:
        return {"protocol": self.protocol, "tracker": self.tracker, **self.summary}


def _match_results(dataset, results, proto: Protocol) -> list[SequenceResult]:
    """Each sequence's results, found under any name the protocol's toolkit gives it
    (pytracking's ``uav_<seq>`` ...); the error lists every sequence without one."""
    root = getattr(results, "root", None)
    matched, missing = [], []
    for seq in dataset:
        names = [n for n in proto.result_names(seq) if n in results]
        if len(names) > 1:
            raise DataError(root, f"sequence {seq.name} has results under two names: {' and '.join(names)}")
        if names:
            matched.append(results[names[0]])
        else:
            missing.append(" / ".join(proto.result_names(seq)))
    if missing:
        shown = ", ".join(missing[:20]) + (f" ... ({len(missing)} in all)" if len(missing) > 20 else "")
        raise DataError(root, f"no results for {len(missing)} of {len(dataset)} sequences: {shown}")
    return matched


def evaluate(dataset: Dataset | list[Sequence], results: ResultSet | dict[str, SequenceResult] | str | Path,
             protocol: str | Protocol = "got10k", **protocol_kwargs) -> EvalResult:
    """Score ``results`` on ``dataset`` under ``protocol`` (see :data:`PROTOCOLS`).

    ``results`` is a :class:`ResultSet` (or dict), a folder in either toolkit layout, or a
    list of pytracking run folders. A sequence's results may be under trackkit's name or its
    toolkit's (``uav_bike1.txt`` for UAV123's ``bike1`` under the pytracking protocols).
    Every sequence of the dataset must have results; the error lists the missing ones.
    """
    proto = get_protocol(protocol, **protocol_kwargs)
    if isinstance(results, (str, Path, list, tuple)):
        results = read_results(results, allow_nan=proto.allow_nan_results)
    matched = _match_results(dataset, results, proto)
    scores = [proto.score_sequence(seq, res) for seq, res in zip(dataset, matched)]
    if not scores:
        raise DataError(None, "the dataset has no sequences")
    summary, curves = proto.summarize(scores)
    per_seq = pd.DataFrame([{"sequence": s.name, **s.row} for s in scores]).set_index("sequence")
    curve_tables = {k: pd.DataFrame({"threshold": proto.curve_x[k], "value": v}) for k, v in curves.items()}
    return EvalResult(proto.name, summary, per_seq, curve_tables, scores, getattr(results, "tracker", ""))


def evaluate_all_protocols(dataset, results, protocols: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One result set scored under every protocol, side by side.

    Rows are protocols, columns the union of metric keys (NaN where a protocol has no such
    metric). Protocols whose rules reject the results (e.g. pytracking's NaN check) get a
    row with an ``error`` message instead of numbers, so the table still shows the others.
    """
    rows = []
    for name in protocols or tuple(PROTOCOLS):
        try:
            r = evaluate(dataset, results, name)
            rows.append({"protocol": name, **{k: (np.nan if v is None else v) for k, v in r.summary.items()},
                         "error": ""})
        except DataError as e:
            if "no results for" in str(e) or "results under two names" in str(e):
                raise
            rows.append({"protocol": name, "error": str(e)})
    cols = ["protocol", "ao", "sr50", "sr75", "auc", "prec", "norm_prec", "fps", "error"]
    return pd.DataFrame(rows).reindex(columns=cols).set_index("protocol")
