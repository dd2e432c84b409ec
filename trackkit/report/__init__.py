"""Reports: study records -> tidy tables with bootstrap CIs, seaborn figures, HTML and markdown.

``compile_report(studies_dir, out)`` builds ``out/index.html`` and ``out/summary.md``;
``trackkit.report.paper_numbers`` holds the papers' published tables as data.
"""
from __future__ import annotations

__all__ = ["compile_report", "aggregate", "mean_ci", "paper_table", "PAPER_TABLES"]


def __getattr__(name):  # pandas/seaborn load only when a report is built
    if name == "compile_report":
        from trackkit.report.compile import compile_report

        return compile_report
    if name in ("aggregate", "mean_ci"):
        from trackkit.report import aggregate as agg

        return getattr(agg, name)
    if name in ("paper_table", "PAPER_TABLES"):
        from trackkit.report import paper_numbers

        return getattr(paper_numbers, name)
    raise AttributeError(name)
