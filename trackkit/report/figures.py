"""Seaborn figures of study results, returned as PNG bytes (embedded in HTML, saved for markdown).

Error bars are seaborn's own percentile bootstrap of the mean over the same units the tables
resample (sequences, or runs/seeds), with a fixed seed so figures are reproducible.
"""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # headless: reports are built in CI and on clusters

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from trackkit.report.aggregate import PARAM  # noqa: E402


def _theme() -> None:
    sns.set_theme(context="paper", style="whitegrid", rc={"pdf.fonttype": 42})


def to_png(fig, dpi: int = 150) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def metric_figure(units, index: list[str], metric: str, label: str | None = None, n_boot: int = 1000):
    """Point plot of ``metric`` against the first index parameter, hue = the second, if any."""
    _theme()
    data = units[units["metric"] == metric].copy()
    x, hue = index[0], (index[1] if len(index) > 1 else None)
    if hue is not None and data[hue].astype(str).nunique() < 2:
        hue = None  # one level: nothing to tell apart (and seaborn's dodge divides by levels - 1)
    # categories in value order (a sweep reads 1.0, 0.9, ..., 0.5 only if sorted), not run order
    order = _value_order(data[x])
    for c in (x, hue):
        if c is not None:
            data[c] = data[c].astype(str)
    fig, ax = plt.subplots(figsize=(3.6, 2.6))
    sns.pointplot(data=data, x=x, y="value", hue=hue, order=order, errorbar=("ci", 95), n_boot=n_boot, seed=0,
                  dodge=0.25 if hue else False, markers="o", capsize=0.1, ax=ax)
    ax.set_xlabel(x[len(PARAM):] if x.startswith(PARAM) else x)
    ax.set_ylabel(label or metric)
    if hue:
        ax.legend(title=hue[len(PARAM):] if hue.startswith(PARAM) else hue, fontsize="small")
    return fig


def _value_order(col) -> list[str]:
    """String categories of ``col`` sorted by value: numbers descending (keep ratios from
    1.0 down), anything else as text."""
    vals = list(dict.fromkeys(col.tolist()))
    try:
        vals = sorted(vals, key=float, reverse=True)
    except (TypeError, ValueError):
        vals = sorted(vals, key=str)
    return [str(v) for v in vals]


def cost_figure(cost, x: str = "macs_g", y: str = "latency_ms"):
    """Latency against MACs, one labelled point per preset."""
    _theme()
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    sns.scatterplot(data=cost, x=x, y=y, ax=ax)
    for _, r in cost.iterrows():
        ax.annotate(str(r["preset"]), (r[x], r[y]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("MACs (G)" if x == "macs_g" else x)
    ax.set_ylabel("latency (ms)" if y == "latency_ms" else y)
    return fig


def tradeoff_figure(summary, x: str, y: str, hue: str | None = None, label: str | list | None = None,
                    xlabel: str | None = None, ylabel: str | None = None, style: str | None = None):
    """Speed-accuracy trade-off: one point per grid point, ``y`` against ``x`` (both metrics of
    the ``summary`` table: means with their bootstrap CIs as error bars on both axes), coloured
    by the parameter ``hue``, marker by the parameter ``style``, annotated with the parameter(s)
    ``label``."""
    import pandas as pd

    _theme()
    idx = [c for c in summary.columns if c.startswith(PARAM)]
    wide = summary.pivot_table(index=idx, columns="metric", values=["mean", "ci_lo", "ci_hi"],
                               aggfunc="first", sort=False)
    wide.columns = [f"{m}:{s}" for s, m in wide.columns]
    wide = wide.reset_index()
    need = [f"{x}:mean", f"{y}:mean"]
    wide = wide.dropna(subset=[c for c in need if c in wide])
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    if not all(c in wide for c in need) or wide.empty:
        ax.text(0.5, 0.5, f"no {x} / {y} values", ha="center", transform=ax.transAxes)
        return fig
    wide.columns = [c[len(PARAM):] if c.startswith(PARAM) else c for c in wide.columns]  # legend titles
    h = hue if hue in wide else None
    st = style if style in wide else None
    for c in (h, st):
        if c:
            wide[c] = wide[c].astype(str)
    sns.scatterplot(data=wide, x=f"{x}:mean", y=f"{y}:mean", hue=h, style=st, s=45, ax=ax, zorder=3)
    ax.errorbar(wide[f"{x}:mean"], wide[f"{y}:mean"],
                xerr=[wide[f"{x}:mean"] - wide[f"{x}:ci_lo"], wide[f"{x}:ci_hi"] - wide[f"{x}:mean"]],
                yerr=[wide[f"{y}:mean"] - wide[f"{y}:ci_lo"], wide[f"{y}:ci_hi"] - wide[f"{y}:mean"]],
                fmt="none", ecolor="grey", elinewidth=0.8, capsize=2, zorder=2)
    labels = [c for c in ([label] if isinstance(label, str) else label or []) if c in wide]
    for _, r in wide.iterrows():
        text = " ".join(str(r[c]) for c in labels if pd.notna(r[c]))
        if text:
            ax.annotate(text, (r[f"{x}:mean"], r[f"{y}:mean"]), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if h or st:
        ax.legend(fontsize="x-small")
    return fig
