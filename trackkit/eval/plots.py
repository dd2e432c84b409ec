"""seaborn figures: success and precision plots as the papers draw them, per-attribute scores."""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["success_plot", "precision_plot", "attribute_scores", "attribute_plot"]

_LABELS = {"success": ("Overlap threshold", "Success rate", "ao"),
           "precision": ("Location error threshold [pixels]", "Precision", "prec"),
           "norm_precision": ("Normalized location error threshold", "Normalized precision", "norm_prec")}


def _curve_plot(results: dict, curve: str, ax=None, title: str | None = None):
    import matplotlib.pyplot as plt
    import seaborn as sns

    rows = []
    for label, r in results.items():
        key = "ao" if (curve == "success" and r.protocol == "got10k") else \
            {"success": "auc", "precision": "prec", "norm_precision": "norm_prec"}[curve]
        score = r.summary[key]
        c = r.curves[curve]
        rows.append(pd.DataFrame({"threshold": c.threshold, "value": c.value,
                                  "tracker": f"{label} [{score:.3f}]", "_score": score}))
    df = pd.concat(rows).sort_values("_score", ascending=False, kind="stable")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    sns.lineplot(data=df, x="threshold", y="value", hue="tracker", ax=ax, linewidth=2)
    xlabel, ylabel, _ = _LABELS[curve]
    ax.set(xlabel=xlabel, ylabel=ylabel, ylim=(0, 1), xlim=(df.threshold.min(), df.threshold.max()))
    ax.set_title(title or f"{ylabel} plot")
    # legend sorted by score, like the papers (score in brackets)
    ax.legend(loc="lower left" if curve == "success" else "lower right", frameon=True)
    ax.grid(True, linestyle="-.")
    return ax


def success_plot(results: dict, ax=None, title: str | None = None):
    """Success plot; ``results`` maps a tracker label to an :class:`EvalResult`. The legend
    gives AUC (AO for got10k) in brackets, best first."""
    return _curve_plot(results, "success", ax, title)


def precision_plot(results: dict, ax=None, title: str | None = None, normalized: bool = False):
    """Precision plot (score at 20 px, or 0.20 when ``normalized``) in the legend."""
    return _curve_plot(results, "norm_precision" if normalized else "precision", ax, title)


# per-sequence attributes that are numbers, not flags, even when a split's values are all 0 / 1
_NOT_FLAGS = ("seed", "index")


def _flag_attributes(dataset) -> list[str]:
    keys = []
    for seq in dataset:
        for k, v in seq.attributes.items():
            if k in _NOT_FLAGS or k.startswith("n_"):  # counts (n_distractors, n_occluders)
                continue
            if k not in keys and (isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer)) and v in (0, 1))):
                keys.append(k)
    return keys


def attribute_scores(results: dict, dataset, metric: str | None = None) -> pd.DataFrame:
    """Score per attribute flag (sequences whose ``attributes[flag]`` is true), pooled the
    protocol's way (frame-weighted AO for got10k, mean over sequences otherwise).

    Returns a DataFrame: rows attributes (with the sequence count), columns trackers.
    """
    flags = _flag_attributes(dataset)
    by_name = {s.name: s for s in dataset}
    table = {}
    for label, r in results.items():
        m = metric or ("ao" if r.protocol == "got10k" else "auc")
        p = np.nansum(r.parts(m), axis=1)  # (S, 2): runs pooled
        names = [s.name for s in r.scores]
        col = {}
        for f in flags:
            sel = np.array([bool(by_name[n].attributes.get(f, False)) for n in names])
            col[f"{f} ({sel.sum()})"] = p[sel, 0].sum() / p[sel, 1].sum() if sel.any() else np.nan
        col[f"all ({len(names)})"] = p[:, 0].sum() / p[:, 1].sum()
        table[label] = col
    return pd.DataFrame(table)


def attribute_plot(results: dict, dataset, metric: str | None = None, kind: str = "heatmap", ax=None):
    """Per-attribute scores as a heatmap (attributes x trackers) or grouped bars."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = attribute_scores(results, dataset, metric)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.5 + 1.2 * df.shape[1], 0.5 + 0.4 * df.shape[0]))
    if kind == "heatmap":
        sns.heatmap(df, annot=True, fmt=".3f", cmap="viridis", vmin=0, vmax=1, ax=ax)
    elif kind == "bar":
        long = df.reset_index(names="attribute").melt(id_vars="attribute", var_name="tracker", value_name="score")
        sns.barplot(data=long, y="attribute", x="score", hue="tracker", ax=ax)
        ax.set_xlim(0, 1)
    else:
        raise ValueError(f"kind {kind!r}: heatmap or bar")
    ax.set_title(f"Per-attribute {metric or 'score'}")
    return ax
