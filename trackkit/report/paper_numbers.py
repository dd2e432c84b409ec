"""Numbers published in the papers, stored as data with the table they come from.

A study's ``report.paper`` names one of these; the report prints it beside our table. Keys
of the rows use the same parameter names as the study grid (e.g. ``search_size``, ``ce``) so
the two tables line up on their index columns. Values are copied from the papers' tables, each
cited by its ``paper`` and ``table`` fields (percentages as printed, MACs in G, FPS as reported on
the authors' GPU).
"""
from __future__ import annotations

from dataclasses import dataclass

from trackkit.errors import ConfigError


@dataclass(frozen=True)
class PaperTable:
    key: str
    paper: str
    table: str
    caption: str
    index: tuple[str, ...]
    columns: dict  # column -> label (units included)
    rows: tuple[dict, ...]

    def frame(self):
        import pandas as pd

        return pd.DataFrame(list(self.rows), columns=[*self.index, *self.columns])

    @property
    def source(self) -> str:
        return f"{self.paper}, {self.table}"


_OSTRACK = "Ye et al., Joint Feature Learning and Relation Modeling for Tracking: A One-Stream Framework (OSTrack), ECCV 2022"

_FASTSEQTRACK = "Li, Gao, Kuai and Chen, Exploring Efficient and Effective Sequence Learning for Visual Object Tracking (FastSeqTrack)"
_STDTRACK = "Shi, Yu, Shi and Luo, Exploring Reliable Spatiotemporal Dependencies for Efficient Visual Tracking (STDTrack)"

PAPER_TABLES: dict[str, PaperTable] = {
    "ostrack_table3": PaperTable(
        key="ostrack_table3",
        paper=_OSTRACK,
        table="Table 3",
        caption="Effect of early candidate elimination (w/o vs w/) on speed, MACs and accuracy; "
                "ViT-B backbone, template 128/192 px for search 256/384 px.",
        index=("search_size", "ce"),
        columns={"fps": "FPS", "macs_g": "MACs (G)", "lasot_auc": "LaSOT AUC (%)",
                 "trackingnet_auc": "TrackingNet AUC (%)", "got10k_ao": "GOT-10k* AO (%)"},
        rows=(
            {"search_size": 256, "ce": False, "fps": 93.1, "macs_g": 29.0, "lasot_auc": 68.7,
             "trackingnet_auc": 82.9, "got10k_ao": 71.0},
            {"search_size": 256, "ce": True, "fps": 105.4, "macs_g": 21.5, "lasot_auc": 69.1,
             "trackingnet_auc": 83.1, "got10k_ao": 71.0},
            {"search_size": 384, "ce": False, "fps": 41.4, "macs_g": 65.3, "lasot_auc": 71.0,
             "trackingnet_auc": 83.5, "got10k_ao": 73.5},
            {"search_size": 384, "ce": True, "fps": 58.1, "macs_g": 48.3, "lasot_auc": 71.1,
             "trackingnet_auc": 83.9, "got10k_ao": 73.7},
        ),
    ),
    "ostrack_table4": PaperTable(
        key="ostrack_table4",
        paper=_OSTRACK,
        table="Table 4",
        caption="Effect of the pre-training of the ViT-B backbone; all models without candidate elimination.",
        index=("pretrain",),
        columns={"lasot_auc": "LaSOT AUC (%)", "lasot_pnorm": "LaSOT P-Norm (%)", "lasot_p": "LaSOT P (%)",
                 "trackingnet_auc": "TrackingNet AUC (%)", "trackingnet_pnorm": "TrackingNet P-Norm (%)",
                 "trackingnet_p": "TrackingNet P (%)", "got10k_ao": "GOT-10k AO (%)",
                 "got10k_sr50": "GOT-10k SR0.5 (%)", "got10k_sr75": "GOT-10k SR0.75 (%)"},
        rows=(
            {"pretrain": "none", "lasot_auc": 60.4, "lasot_pnorm": 70.0, "lasot_p": 62.8, "trackingnet_auc": 77.5,
             "trackingnet_pnorm": 83.0, "trackingnet_p": 73.8, "got10k_ao": 62.7, "got10k_sr50": 72.8,
             "got10k_sr75": 53.7},
            {"pretrain": "in1k", "lasot_auc": 66.1, "lasot_pnorm": 75.8, "lasot_p": 70.6, "trackingnet_auc": 82.0,
             "trackingnet_pnorm": 86.7, "trackingnet_p": 80.1, "got10k_ao": 69.7, "got10k_sr50": 79.0,
             "got10k_sr75": 65.6},
            {"pretrain": "in21k", "lasot_auc": 66.9, "lasot_pnorm": 76.3, "lasot_p": 71.2, "trackingnet_auc": 82.4,
             "trackingnet_pnorm": 86.9, "trackingnet_p": 80.1, "got10k_ao": 70.2, "got10k_sr50": 80.7,
             "got10k_sr75": 65.4},
            {"pretrain": "mae", "lasot_auc": 68.7, "lasot_pnorm": 78.1, "lasot_p": 74.6, "trackingnet_auc": 82.9,
             "trackingnet_pnorm": 87.5, "trackingnet_p": 81.6, "got10k_ao": 73.6, "got10k_sr50": 83.0,
             "got10k_sr75": 71.7},
        ),
    ),
    "fastseqtrack_table3": PaperTable(
        key="fastseqtrack_table3",
        paper=_FASTSEQTRACK,
        table="Table 3",
        caption="Ablation study on GOT-10k: gains over #0 (SeqTrack) as printed ('+ denotes the performance gain "
                "compared with the baseline #0'); the text reads each row as a step over the row before (#2: "
                "+1.6 for one-pass over auto-regressive), which is how trackkit's step_ao compares.",
        index=("row",),
        columns={"method": "method", "ao_gain": "AO gain (pts)", "sr50_gain": "SR0.5 gain (pts)",
                 "sr75_gain": "SR0.75 gain (pts)"},
        rows=(
            {"row": 0, "method": "Baseline (SeqTrack)", "ao_gain": 0.0, "sr50_gain": 0.0, "sr75_gain": 0.0},
            {"row": 1, "method": "+GIoU Loss", "ao_gain": 2.4, "sr50_gain": 3.0, "sr75_gain": 2.3},
            {"row": 2, "method": "Auto-regressive -> One-pass", "ao_gain": 1.6, "sr50_gain": 1.8, "sr75_gain": 2.8},
            {"row": 3, "method": "Random Initialization -> Initial Guess", "ao_gain": 2.4, "sr50_gain": 2.6,
             "sr75_gain": 3.9},
            {"row": 4, "method": "+Parameter-sharing Early Exits", "ao_gain": 0.7, "sr50_gain": 1.2, "sr75_gain": 0.1},
            {"row": 5, "method": "+Independent Early Exits", "ao_gain": 0.7, "sr50_gain": 1.3, "sr75_gain": 0.0},
        ),
    ),
    "stdtrack_table3": PaperTable(
        key="stdtrack_table3",
        paper=_STDTRACK,
        table="Table 3",
        caption="Ablation study on GOT-10k, modules added one at a time to the ViT-Tiny baseline (params, FLOPs "
                "and CPU FPS are withheld in our copy).",
        index=("row",),
        columns={"got10k_ao": "GOT-10k AO (%)", "got10k_sr50": "SR0.5 (%)", "got10k_sr75": "SR0.75 (%)"},
        rows=(
            {"row": "baseline", "got10k_ao": 69.2, "got10k_sr50": 79.6, "got10k_sr75": 64.8},
            {"row": "token", "got10k_ao": 69.5, "got10k_sr50": 79.3, "got10k_sr75": 65.8},
            {"row": "mfifm", "got10k_ao": 70.2, "got10k_sr50": 80.4, "got10k_sr75": 65.7},
            {"row": "mask", "got10k_ao": 70.7, "got10k_sr50": 80.7, "got10k_sr75": 66.5},
            {"row": "full", "got10k_ao": 71.3, "got10k_sr50": 81.6, "got10k_sr75": 66.2},
        ),
    ),
    "stdtrack_tables45": PaperTable(
        key="stdtrack_tables45",
        paper=_STDTRACK,
        table="Tables 4 and 5",
        caption="STM update mechanism (Table 4, capacity 6) and capacity (Table 5, quality-based rule), GOT-10k.",
        index=("capacity", "rule"),
        columns={"got10k_ao": "GOT-10k AO (%)", "got10k_sr50": "SR0.5 (%)", "got10k_sr75": "SR0.75 (%)"},
        rows=(
            {"capacity": 6, "rule": "fifo", "got10k_ao": 71.0, "got10k_sr50": 81.4, "got10k_sr75": 65.6},
            {"capacity": 6, "rule": "quality", "got10k_ao": 71.3, "got10k_sr50": 81.6, "got10k_sr75": 66.2},
            {"capacity": 2, "rule": "quality", "got10k_ao": 69.6, "got10k_sr50": 79.3, "got10k_sr75": 65.4},
            {"capacity": 4, "rule": "quality", "got10k_ao": 70.9, "got10k_sr50": 81.2, "got10k_sr75": 65.9},
            {"capacity": 8, "rule": "quality", "got10k_ao": 69.9, "got10k_sr50": 79.9, "got10k_sr75": 65.2},
        ),
    ),
}


def paper_table(key: str) -> PaperTable:
    try:
        return PAPER_TABLES[key]
    except KeyError:
        raise ConfigError(f"unknown paper table {key!r} (known: {', '.join(sorted(PAPER_TABLES))})") from None


def relative_change(df, column: str, index: list[str], param: str, baseline):
    """Percent change of ``column`` against the row with ``param == baseline`` and the same
    other ``index`` values (e.g. the +13.2% FPS of CE at 256 px in OSTrack Table 3)."""
    import pandas as pd

    others = [c for c in index if c != param]
    base = df[df[param] == baseline]
    out = []
    for _, row in df.iterrows():
        match = base
        for o in others:
            match = match[match[o] == row[o]]
        ref = float(match[column].iloc[0]) if len(match) else float("nan")
        out.append(100.0 * (float(row[column]) - ref) / ref if ref else float("nan"))
    return pd.Series(out, index=df.index)
