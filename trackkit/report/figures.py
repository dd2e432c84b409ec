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
    for c in (x, hue):
        if c is not None:
            data[c] = data[c].astype(str)
    fig, ax = plt.subplots(figsize=(3.6, 2.6))
    sns.pointplot(data=data, x=x, y="value", hue=hue, errorbar=("ci", 95), n_boot=n_boot, seed=0,
                  dodge=0.25 if hue else False, markers="o", capsize=0.1, ax=ax)
    ax.set_xlabel(x[len(PARAM):] if x.startswith(PARAM) else x)
    ax.set_ylabel(label or metric)
    if hue:
        ax.legend(title=hue[len(PARAM):] if hue.startswith(PARAM) else hue, fontsize="small")
    return fig


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
