"""Report: bootstrap CIs, paper numbers, aggregation, compiled HTML/markdown, headless Chromium."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackkit.atomic import write_json
from trackkit.report.aggregate import aggregate, mean_ci
from trackkit.report.compile import compile_report
from trackkit.report.paper_numbers import PAPER_TABLES, paper_table, relative_change
from trackkit.study.records import record, record_table

ECE_REPORT = {
    "title": "Early candidate elimination",
    "index": ["search_size", "ce"],
    "metrics": {"macs_g": "MACs (G)", "fps": "FPS", "ao": "AO (%)"},
    "paper": "ostrack_table3",
    "compare": {"macs_g": "macs_g", "fps": "fps", "ao": "got10k_ao"},
    "relative_to": {"ce": False},
}


def make_study(out: Path, name: str = "ece", report: dict | None = ECE_REPORT, seeds=(0, 1),
               failed_key: str | None = None, sizes=(256, 384)) -> list[dict]:
    """Records as the runner writes them, without running kernels (fast)."""
    rng = np.random.default_rng(0)
    runs = []
    for size in sizes:
        for ce in (False, True):
            for seed in seeds:
                key = f"{size}{int(ce)}{seed}".ljust(16, "0")
                params = {"search_size": size, "ce": ce, "seed": seed}
                folder = out / name / "runs" / key
                data = folder / "data"
                macs = (29.0 if size == sizes[0] else 65.3) * (0.74 if ce else 1.0)
                ao = pd.DataFrame({"sequence": [f"seq{i}" for i in range(8)],
                                   "ao": 60 + rng.normal(0, 5, 8) + (1 if ce else 0)})
                metrics = record(data, macs_g=macs, fps=3000 / macs + rng.normal(0, 1), ao=float(ao.ao.mean()))
                record_table(data, "sequences", ao)
                status = "failed" if key == failed_key else "ok"
                write_json(folder / "record.json", {
                    "key": key, "status": status, "params": params, "metrics": metrics,
                    "error": {"message": "ValueError: boom"} if status == "failed" else None, "duration_s": 1.0})
                runs.append({"key": key, "params": params})
    write_json(out / name / "cpu.json", {"kind": "trackkit-study-manifest", "study": name, "profile": "cpu",
                                         "description": "fake ECE study", "report": report or {}, "runs": runs})
    return runs


# ---------------------------------------------------------------- statistics

def test_mean_ci_is_deterministic_and_sane():
    x = np.arange(20.0)
    m, lo, hi = mean_ci(x)
    assert m == 9.5 and lo < m < hi and (m, lo, hi) == mean_ci(x)
    assert mean_ci([3.0]) == (3.0, 3.0, 3.0)
    assert all(np.isnan(mean_ci([])))
    # wider level, wider interval; more spread, wider interval
    assert mean_ci(x, level=0.99)[1] <= lo and mean_ci(x * 3)[2] - mean_ci(x * 3)[1] > hi - lo
    # the standard error of a mean of 20 values of sd 5.9 is 1.3: a 95% interval about +-2.6
    assert 4.0 < hi - lo < 6.5


def test_mean_ci_resamples_with_trackkit_evals_bootstrap():
    from trackkit.eval.bootstrap import bootstrap_ratio

    x = np.random.default_rng(2).normal(size=15)
    reps = bootstrap_ratio(np.stack([x, np.ones(15)], -1)[:, None, :], n_boot=500, seed=4, over_runs=False)
    assert mean_ci(x, n_boot=500, seed=4)[1:] == tuple(np.quantile(reps, [0.025, 0.975]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30))
def test_mean_ci_brackets_the_mean_within_the_data(values):
    m, lo, hi = mean_ci(values, n_boot=200)
    eps = 1e-6 * (1 + max(map(abs, values)))
    assert min(values) - eps <= lo <= m + eps and m - eps <= hi <= max(values) + eps


# ---------------------------------------------------------------- paper numbers

def test_ostrack_table3_matches_the_printed_relative_changes():
    """The paper prints the relative change beside each w/ number: our stored values must give them."""
    t = paper_table("ostrack_table3")
    df = t.frame()
    assert t.table == "Table 3" and len(df) == 4
    fps = relative_change(df, "fps", list(t.index), "ce", False)
    macs = relative_change(df, "macs_g", list(t.index), "ce", False)
    w = df.ce.to_numpy()
    assert np.round(fps[w], 1).tolist() == [13.2, 40.3]
    assert np.round(macs[w], 1).tolist() == [-25.9, -26.0]
    diff = df[w].set_index("search_size")[["lasot_auc", "trackingnet_auc", "got10k_ao"]] - \
        df[~w].set_index("search_size")[["lasot_auc", "trackingnet_auc", "got10k_ao"]]
    assert np.round(diff.to_numpy(), 1).tolist() == [[0.4, 0.2, 0.0], [0.1, 0.4, 0.2]]
    for table in PAPER_TABLES.values():  # every row fills every column
        assert not table.frame().isna().any().any()


def test_unknown_paper_table():
    from trackkit.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown paper table 'nope'"):
        paper_table("nope")


# ---------------------------------------------------------------- aggregation and compile

def test_aggregate_resamples_sequences_and_keeps_failures(tmp_path):
    make_study(tmp_path, failed_key="3841100000000000")
    (st_,) = aggregate(tmp_path)
    runs, units, summary = st_["runs"], st_["units"], st_["summary"]
    assert len(runs) == 8 and (runs.status == "failed").sum() == 1
    assert st_["index"] == ["p.search_size", "p.ce"]
    ao = units[units.metric == "ao"]
    assert set(ao.unit_kind) == {"sequence"} and len(ao) == 7 * 8  # failed run left out
    macs = summary[summary.metric == "macs_g"].set_index(["p.search_size", "p.ce"])
    assert macs.loc[(384, True), "n"] == 1 and macs.loc[(256, True), "n"] == 2
    assert macs.loc[(256, False), "mean"] == pytest.approx(29.0)
    row = summary[(summary.metric == "ao") & (summary["p.search_size"] == 256) & (summary["p.ce"] == False)]  # noqa: E712
    assert row.n.item() == 16 and row.ci_lo.item() < row["mean"].item() < row.ci_hi.item()


def test_compile_report_tables_markdown_html(tmp_path):
    studies, out = tmp_path / "studies", tmp_path / "reports"
    make_study(studies)
    index = compile_report(studies, out, cost=False, notebooks=False)
    html = index.read_text()
    imgs = re.findall(r"<img [^>]*src='data:image/png;base64,", html)
    assert len(imgs) == 3  # one figure per metric, embedded
    assert "Paper: Table 3" in html and "OSTrack" in html
    md = (out / "summary.md").read_text()
    assert "![Early candidate elimination: MACs (G)](figures/ece_macs_g.png)" in md
    assert (out / "figures" / "ece_macs_g.png").stat().st_size > 1000
    for kind in ("runs", "units", "summary", "vs_paper"):
        assert (out / "tables" / f"ece_{kind}.csv").exists()
        assert len(pd.read_parquet(out / "tables" / f"ece_{kind}.parquet")) > 0
    cmp = pd.read_csv(out / "tables" / "ece_vs_paper.csv")
    r = cmp[(cmp.search_size == 256) & (cmp.ce)].iloc[0]
    assert r["MACs (G) paper"] == 21.5 and round(r["MACs (G) Δ% paper"], 1) == -25.9
    assert r["MACs (G) ours"] == pytest.approx(29.0 * 0.74) and r["MACs (G) Δ% ours"] == pytest.approx(-26.0)
    assert "Cost of every preset" not in md  # nothing is profiled or scored by the report itself


def test_comparison_aligns_our_scaled_down_rows_to_the_papers(tmp_path):
    studies, out = tmp_path / "studies", tmp_path / "reports"
    make_study(studies, sizes=(128, 192), report={**ECE_REPORT, "align": {"search_size": {128: 256, 192: 384}}})
    compile_report(studies, out, cost=False, notebooks=False)
    cmp = pd.read_csv(out / "tables" / "ece_vs_paper.csv")
    assert len(cmp) == 4
    r = cmp[(cmp["search_size (ours)"] == 192) & ~cmp.ce].iloc[0]
    assert r.search_size == 384 and r["MACs (G) paper"] == 65.3 and r["FPS paper"] == 41.4


def test_report_links_converted_notebooks(tmp_path):
    import nbformat

    studies, out = tmp_path / "studies", tmp_path / "reports"
    runs = make_study(studies, seeds=(0,))
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print('SECRET_SOURCE')", outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="visible output\n")])])
    warning = f"{sys.prefix}/lib/site-packages/torch/x.py:1: UserWarning: careful\n"
    nb.cells.append(nbformat.v4.new_code_cell("warn()", outputs=[
        nbformat.v4.new_output("stream", name="stderr", text=warning + f"wrote {studies.resolve()}/f.txt\n")]))
    nbformat.write(nb, studies / "ece" / "runs" / runs[0]["key"] / "notebook.ipynb")
    html = compile_report(studies.resolve(), out, cost=False).read_text()
    page = out / "notebooks" / "ece" / f"{runs[0]['key']}.html"
    assert f"notebooks/ece/{runs[0]['key']}.html" in html
    text = page.read_text()
    assert "visible output" in text and "SECRET_SOURCE" not in text  # --no-input
    # machine folders in outputs become placeholders
    assert sys.prefix not in text and str(tmp_path) not in text
    assert "&lt;env&gt;/lib/site-packages/torch/x.py" in text and "&lt;studies&gt;/f.txt" in text


def _table_study(out: Path, record_cost: bool = True) -> None:
    """A preset-cost study's records: one run that recorded a ``cost`` table (or did not)."""
    key = "c0st000000000000"
    data = out / "preset_costs" / "runs" / key / "data"
    metrics = record(data, threads=2, device="cpu", torch="2.13.0", results=str(out / "somewhere"))
    tables = []
    if record_cost:
        record_table(data, "cost", pd.DataFrame({"preset": ["tiny", "big"], "macs_g": [0.1, 30.0],
                                                 "latency_ms": [3.0, np.nan], "threads": [2, 2]}))
        tables = ["cost"]
    write_json(data.parent / "record.json", {"key": key, "status": "ok", "params": {"latency_max_gmacs": 1.0},
                                             "metrics": metrics, "tables": tables})
    report = {"title": "Cost of every preset", "summary": False,
              "tables": [{"name": "cost", "title": "Cost of every preset", "figure": "cost"}]}
    write_json(out / "preset_costs" / "cpu.json", {
        "kind": "trackkit-study-manifest", "study": "preset_costs", "profile": "cpu", "description": "costs",
        "study_file": str(out.resolve() / "preset_costs.yaml"), "report": report,
        "runs": [{"key": key, "params": {"latency_max_gmacs": 1.0}}]})


def test_recorded_tables_are_shown_as_recorded_and_absent_ones_said_so(tmp_path):
    studies, out = tmp_path / "studies", tmp_path / "reports"
    _table_study(studies)
    compile_report(studies.resolve(), out, notebooks=False)
    md = (out / "summary.md").read_text()
    assert "recorded by run c0st000000000000 of study preset_costs" in md
    assert pd.read_csv(out / "tables" / "preset_costs_cost.csv")["macs_g"].tolist() == [0.1, 30.0]
    assert (out / "figures" / "preset_costs_cost.png").exists()  # the timed preset against its MACs
    assert "### Ours" not in md  # summary: false
    for page in (md, (out / "index.html").read_text(), (out / "tables" / "preset_costs_runs.csv").read_text()):
        assert str(tmp_path) not in page  # no machine paths: not the records folder, not a recorded path

    _table_study(studies, record_cost=False)
    compile_report(studies, out, notebooks=False)
    md = (out / "summary.md").read_text()
    assert "Not recorded: no finished run of study preset_costs (profile cpu) holds table 'cost'" in md
    # the study file lies outside the working directory: named by its last two parts
    assert "`trackkit study run studies/preset_costs.yaml --profile cpu`" in md and str(tmp_path) not in md


def test_a_table_is_taken_from_the_run_named_by_where(tmp_path):
    studies, out = tmp_path / "studies", tmp_path / "reports"
    runs = make_study(studies, seeds=(0,), report={**ECE_REPORT, "tables": [
        {"name": "protocols", "title": "every protocol", "where": {"search_size": 384, "ce": False}}]})
    for run in runs:
        data = studies / "ece" / "runs" / run["key"] / "data"
        record_table(data, "protocols", pd.DataFrame({"protocol": ["got10k"], "size": [run["params"]["search_size"]],
                                                      "ce": [run["params"]["ce"]]}))
        rec = json.loads((data.parent / "record.json").read_text())
        write_json(data.parent / "record.json", {**rec, "tables": ["sequences", "protocols"]})
    compile_report(studies, out, notebooks=False)
    got = pd.read_csv(out / "tables" / "ece_protocols.csv")
    assert got[["size", "ce"]].values.tolist() == [[384, False]]


def test_the_report_refuses_to_compute(tmp_path):
    from trackkit.errors import ConfigError

    with pytest.raises(ConfigError, match="only reads study records"):
        compile_report(tmp_path, tmp_path / "r", protocols_results="somewhere")
    with pytest.raises(ConfigError, match="cost_latency_max_gmacs"):
        compile_report(tmp_path, tmp_path / "r", cost_latency_max_gmacs=1.0)


def test_cli_report(tmp_path, capsys):
    from trackkit.cli import main

    make_study(tmp_path / "s")
    assert main(["report", "--studies", str(tmp_path / "s"), "--out", str(tmp_path / "r")]) == 0
    assert "index.html" in capsys.readouterr().out


# ---------------------------------------------------------------- headless Chromium

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
_PROBE = ("<script>window.addEventListener('load', () => document.body.setAttribute('data-img-widths',"
          " Array.from(document.images).map(i => i.complete ? i.naturalWidth : -1).join(',')));</script>")


def _img_widths(page: Path, tmp_path: Path) -> list[int]:
    probe = page.with_name("_probe_" + page.name)
    probe.write_text(page.read_text().replace("</body>", _PROBE + "</body>"))
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=5000",
           "--dump-dom", probe.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    m = re.search(r'data-img-widths="([^"]*)"', dom)
    assert m, f"probe did not run; chromium printed: {dom[:500]!r}"
    return [int(w) for w in m.group(1).split(",") if w]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_every_figure_renders_in_headless_chromium(tmp_path):
    studies, out = tmp_path / "studies", tmp_path / "reports"
    make_study(studies)
    index = compile_report(studies, out, cost=False, notebooks=False)
    # negative control: the probe must see a broken image as width 0
    broken = out / "broken.html"
    broken.write_text("<html><body><img src='data:image/png;base64,AAAA'></body></html>")
    assert _img_widths(broken, tmp_path) == [0]
    widths = _img_widths(index, tmp_path)
    assert len(widths) == 3 and all(w > 0 for w in widths), widths


def test_effects_table_states_what_the_split_can_resolve():
    import math

    import pandas as pd

    from trackkit.report.compile import effects_table

    runs = pd.DataFrame({"status": ["ok", "ok"], "p.row": [1, 2], "m.step_ao": [1.0, -0.5],
                         "m.step_ao_lo": [-1.0, -0.7], "m.step_ao_hi": [3.0, -0.3]})
    cfg = {"effects": [{"label": "a", "metric": "step_ao", "paper": 2.4, "where": {"row": 1}},
                       {"label": "b", "metric": "step_ao", "paper": 1.6, "trained": True, "where": {"row": 2}},
                       {"label": "missing", "metric": "step_ao", "paper": 1.0, "where": {"row": 9}}]}
    t = effects_table({"manifest": {"report": cfg}, "runs": runs})
    assert list(t["comparison"]) == ["a", "b"]
    assert t["MDE (pts)"].tolist() == pytest.approx([2.0, 0.2])
    assert list(t["paper effect resolvable here"]) == ["yes", "yes"]
    # a training-seed spread widens only comparisons of separately trained networks
    t = effects_table({"manifest": {"report": {**cfg, "seed_sd": 1.0}}, "runs": runs})
    assert t["MDE (pts)"].iloc[0] == pytest.approx(2.0)
    assert t["MDE (pts)"].iloc[1] == pytest.approx(math.hypot(0.2, 1.96 * math.sqrt(2)))
    assert list(t["paper effect resolvable here"]) == ["yes", "no"]
    assert effects_table({"manifest": {"report": {}}, "runs": runs}) is None
