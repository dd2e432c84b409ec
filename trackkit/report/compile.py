"""Compile study records into ``reports/``: tidy tables, figures, index.html and summary.md.

Layout written under ``out`` (Cookiecutter Data Science's ``reports/`` convention)::

    index.html                 self-contained: figures embedded as base64 PNG
    summary.md                 the same tables in markdown, figures linked from figures/
    figures/<study>_<metric>.png
    tables/<study>_{runs,units,summary}.{csv,parquet}, cost.*, protocols.*
    notebooks/<study>/<key>.html   executed notebooks, nbconvert --no-input

A study's ``report:`` mapping (copied into its manifest by the runner) drives its section::

    report:
      title: Early candidate elimination
      index: [search_size, ce]          # params that identify a row (default: varying params)
      metrics: {macs_g: MACs (G), fps: FPS, ao: AO (%)}   # metric -> label (default: all)
      per_sequence: sequences           # per-run table whose rows are CI units (default)
      paper: ostrack_table3             # trackkit.report.paper_numbers key
      compare: {macs_g: macs_g, fps: fps, ao: got10k_ao}  # our metric -> paper column
      relative_to: {ce: false}          # also show % change against this baseline row
      align: {search_size: {128: 256}}  # our value -> the paper row it stands for
      compare_ratio: {speedup: fps}     # ours: a ratio to the baseline measured in-run; paper: fps / baseline fps
      paper_rows:                       # or: explicit grid point -> paper row pairs
        - {ours: {search_size: 128, keep_ratio: 1.0}, paper: {search_size: 256, ce: false}}
      figures:                          # instead of one point plot per metric (optional)
        - {metrics: [ao, speedup], x: keep_ratio, hue: search_size, where: {ce_loc: [1, 2]}}
      tradeoff: {x: speedup, y: ao, hue: ce_loc, style: search_size, label: [keep_ratio]}  # CIs on both axes

Sections that depend on code still being written elsewhere (preset costs from
``trackkit.profiling``, protocol scores from ``trackkit.eval``) say why they are empty
instead of failing the report.
"""
from __future__ import annotations

import base64
import html
import traceback
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from trackkit.atomic import atomic_open, write_bytes, write_text
from trackkit.report import figures
from trackkit.report.aggregate import PARAM, aggregate, wide_summary
from trackkit.report.paper_numbers import paper_table, relative_change
from trackkit.study.records import NOTEBOOK_FILE, run_dir


def _write_table(df: pd.DataFrame, stem: Path) -> None:
    with atomic_open(stem.with_suffix(".csv"), "w") as fh:
        df.to_csv(fh, index=False)
    with atomic_open(stem.with_suffix(".parquet"), "wb") as fh:
        df.astype({c: str for c in df.columns if df[c].dtype == object}).to_parquet(fh, index=False)


def _html_table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, border=0, classes="tbl", na_rep="–", float_format=lambda v: f"{v:.2f}")


def _md_table(df: pd.DataFrame) -> str:
    return df.astype(object).where(df.notna(), None).to_markdown(index=False, floatfmt=".2f", missingval="–")


def _strip(cols: list[str]) -> list[str]:
    return [c[len(PARAM):] if c.startswith(PARAM) else c for c in cols]


def _comparison(study: dict, pt) -> pd.DataFrame | None:
    """Our means beside the paper's numbers, on the shared index columns."""
    cfg = study["manifest"].get("report") or {}
    compare = cfg.get("compare") or {}
    summary = study["summary"]
    if not compare or summary.empty:
        return None
    index = _strip(study["index"])
    ours = summary.pivot_table(index=study["index"], columns="metric", values="mean", sort=False).reset_index()
    ours.columns = _strip(list(ours.columns))
    paper = pt.frame()
    keys = [c for c in index if c in paper.columns]
    if not keys:
        return None
    for k in keys:  # YAML and the paper table may spell 256 / 256.0 / True differently
        ours[k], paper[k] = ours[k].astype(str), paper[k].astype(str)
    for k, mapping in (cfg.get("align") or {}).items():  # e.g. our 128 px stands for the paper's 256
        if k in keys:
            mapping = {str(a): str(b) for a, b in mapping.items()}
            ours.insert(0, f"{k} (ours)", ours[k])
            ours[k] = ours[k].map(lambda v: mapping.get(v, v))
            index = [f"{k} (ours)", *index]
    merged = ours.merge(paper, on=keys, how="outer", suffixes=("", " (paper)"))
    labels = cfg.get("metrics") or {}
    out = merged[index].copy() if all(c in merged for c in index) else merged[keys].copy()
    rel = cfg.get("relative_to") or {}
    for mine, theirs in compare.items():
        label = labels.get(mine, mine)
        theirs_col = theirs if theirs != mine else f"{theirs} (paper)"
        if mine not in merged or theirs_col not in merged:
            continue
        out[f"{label} ours"] = merged[mine]
        out[f"{label} paper"] = merged[theirs_col]
        for param, base in rel.items():
            if param in merged:
                b = str(base)
                merged[param] = merged[param].astype(str)
                out[f"{label} Δ% ours"] = relative_change(merged, mine, keys, param, b)
                out[f"{label} Δ% paper"] = relative_change(merged, theirs_col, keys, param, b)
    return out


def _norm(v) -> str:
    """A parameter value as text for matching YAML values against table cells."""
    import json

    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v)
    if isinstance(v, float) and v.is_integer():
        return str(v)
    return str(v)


def _select(df: pd.DataFrame, where: dict) -> pd.DataFrame:
    for k, v in (where or {}).items():
        if k not in df:
            return df.iloc[:0]
        df = df[df[k].map(_norm) == _norm(v)]
    return df


def _paper_rows_comparison(study: dict, pt) -> pd.DataFrame | None:
    """Our means beside the paper's, one row per ``report.paper_rows`` pair."""
    cfg = study["manifest"].get("report") or {}
    compare, summary = cfg.get("compare") or {}, study["summary"]
    ratios = cfg.get("compare_ratio") or {}
    if not (compare or ratios) or summary.empty:
        return None
    ours = summary.pivot_table(index=study["index"], columns="metric", values="mean", sort=False).reset_index()
    ours.columns = _strip(list(ours.columns))
    paper = pt.frame()
    labels = cfg.get("metrics") or {}
    rows = []
    for pair in cfg["paper_rows"]:
        mine, theirs = _select(ours, pair.get("ours")), _select(paper, pair.get("paper"))
        if mine.empty or theirs.empty:
            continue
        row = {f"{k} (ours)": _norm(v) for k, v in pair["ours"].items()}
        row.update({k: _norm(v) for k, v in pair["paper"].items()})
        for m, p in {**compare, **ratios}.items():
            row[f"_{m}"], row[f"_{p} (paper)"] = mine.iloc[0].get(m), theirs.iloc[0].get(p)
        rows.append(row)
    if not rows:
        return None
    merged = pd.DataFrame(rows)
    keys = list(dict.fromkeys(k for pair in cfg["paper_rows"] for k in pair.get("paper", {})))
    out = merged[[c for c in merged if not c.startswith("_")]].copy()
    for m, p in compare.items():
        label = labels.get(m, m)
        out[f"{label} ours"], out[f"{label} paper"] = merged[f"_{m}"], merged[f"_{p} (paper)"]
        for param, base in (cfg.get("relative_to") or {}).items():
            if param in merged:
                out[f"{label} Δ% ours"] = relative_change(merged, f"_{m}", keys, param, _norm(base))
                out[f"{label} Δ% paper"] = relative_change(merged, f"_{p} (paper)", keys, param, _norm(base))
    for m, p in ratios.items():  # ours is already a ratio to the baseline row (measured side by side)
        label = labels.get(m, m)
        out[f"{label} ours"] = merged[f"_{m}"]
        for param, base in (cfg.get("relative_to") or {}).items():
            if param in merged:
                out[f"{label} paper"] = 1 + relative_change(merged, f"_{p} (paper)", keys, param, _norm(base)) / 100
    return out


def _notebook_html(src: Path, dst: Path) -> bool:
    from nbconvert import HTMLExporter
    import nbformat

    exporter = HTMLExporter(exclude_input=True)
    exporter.register_preprocessor("nbconvert.preprocessors.TagRemovePreprocessor", enabled=True)
    exporter.config.TagRemovePreprocessor.remove_cell_tags = {"parameters", "injected-parameters"}
    try:
        body, _ = exporter.from_notebook_node(nbformat.read(src, as_version=4))
    except Exception:  # a notebook cut short by a dead kernel may not convert
        return False
    write_text(dst, body)
    return True


def cost_table(cache: Path | None = None, warmup: int = 1, runs: int = 5,
               latency_max_gmacs: float | None = None) -> tuple[pd.DataFrame | None, str]:
    """Params, MACs, FLOPs and latency of every preset, or (None, why not).

    Profiling every preset takes minutes on a CPU, so the table is cached in ``cache`` (JSON)
    keyed by the code version and reused until the trackkit sources change. Latency uses few
    runs: it is indicative here, ``trackkit profile`` / benchmarks/ measure it properly.
    ``latency_max_gmacs``: time only presets up to this many GMACs (a ViT-B/384 forward takes
    seconds on 2 CPU cores); None times every preset.
    """
    import json

    from trackkit.study.cache import code_version

    try:
        from trackkit.profiling import profile_preset  # first: it imports trackkit.models (torch)
        from trackkit.models import list_presets
    except ImportError as e:
        return None, f"preset profiling is not available yet ({e})"
    version = code_version()
    if cache is not None and cache.exists():
        cached = json.loads(cache.read_text())
        if cached.get("code_version") == version and cached.get("latency_max_gmacs") == latency_max_gmacs:
            return pd.DataFrame(cached["rows"]), ""
    from tqdm.auto import tqdm

    rows = []
    for name in tqdm(list_presets(), desc="cost of every preset", unit="preset", mininterval=0):
        try:
            if latency_max_gmacs is None:
                r = dict(profile_preset(name, warmup=warmup, runs=runs))
            else:
                r = dict(profile_preset(name, latency=False))
                if r["macs"] is not None and r["macs"] / 1e9 <= latency_max_gmacs:
                    lat = profile_preset(name, macs=False, flops=False, warmup=warmup, runs=runs)
                    r.update({k: v for k, v in lat.items() if k.startswith("latency") or k == "threads"})
                else:
                    r["latency_label"] = f"not timed (> {latency_max_gmacs:g} GMACs)"
            rows.append({"preset": name, **{k: v for k, v in r.items() if k != "preset"}})
        except Exception as e:  # one broken preset must not hide the others
            rows.append({"preset": name, "error": f"{type(e).__name__}: {e}"})
    df = pd.DataFrame(rows)
    for c in ("macs", "flops"):
        if c in df:
            df[f"{c}_g"] = df[c] / 1e9
    if "params" in df:
        df["params_m"] = df["params"] / 1e6
    keep = [c for c in ("preset", "params_m", "macs_g", "flops_g", "latency_ms", "latency_label", "threads", "error")
            if c in df]
    df = df[keep]
    if cache is not None:
        write_text(cache, json.dumps({"code_version": version, "latency_max_gmacs": latency_max_gmacs,
                                      "rows": json.loads(df.to_json(orient="records"))}))
    return df, ""


def protocols_table(results: str | None, dataset: str | dict | None) -> tuple[pd.DataFrame | None, str]:
    """One results folder scored under every protocol (``trackkit.eval.evaluate_all_protocols``).

    ``dataset``: a dataset folder, or a procedural split as a mapping (``synth_preset``,
    ``n_sequences``, ``n_frames``, ``seed``, ``split``) regenerated in memory (boxes only are
    needed, so nothing is rendered)."""
    if not results or not dataset:
        return None, "no results set given (trackkit report --protocols-results DIR --protocols-dataset DIR)"
    try:
        from trackkit.data.readers import load_dataset
        from trackkit.eval import evaluate_all_protocols
    except ImportError as e:
        return None, f"evaluate_all_protocols is not available yet ({e})"
    if isinstance(dataset, dict):
        from trackkit.data.synth import SynthDataset, get_preset

        dataset = list(SynthDataset(get_preset(dataset["synth_preset"]), dataset["n_sequences"], dataset["n_frames"],
                                    seed=dataset["seed"], split=dataset["split"]))
    else:
        dataset = load_dataset(dataset)
    scores = evaluate_all_protocols(dataset, results)
    return (scores.reset_index() if scores.index.name else scores), ""


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1,h2,h3{font-weight:600} .tbl{border-collapse:collapse;font-size:13px;margin:.5em 0}
.tbl td,.tbl th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right} .side{display:flex;gap:2em;flex-wrap:wrap}
.figs{display:flex;flex-wrap:wrap;gap:1em} .figs img{max-width:360px} .muted{color:#777} .fail{color:#b00}"""


def _recorded_results_set(studies: list[dict], studies_dir) -> tuple[str | None, dict | str | None, str]:
    """(results, dataset, description) from the first ok run of a study whose ``report.protocols``
    names the metrics holding them, e.g. ``protocols: {results: results_ref, dataset: test_split}``."""
    from trackkit.study.records import read_record

    for st in studies:
        spec = (st["manifest"].get("report") or {}).get("protocols")
        if not spec:
            continue
        for run in st["manifest"]["runs"]:
            rec = read_record(run_dir(studies_dir, st["manifest"]["study"], run["key"])) or {}
            m = rec.get("metrics") or {}
            if rec.get("status") == "ok" and m.get(spec["results"]) and m.get(spec["dataset"]):
                if Path(m[spec["results"]]).is_dir():
                    params = ", ".join(f"{k}={v}" for k, v in run["params"].items())
                    return (m[spec["results"]], m[spec["dataset"]],
                            f"results of study {st['manifest']['study']}, run {run['key']} ({params}): "
                            f"{m[spec['results']]}")
    return None, None, ""


def compile_report(studies_dir: str | Path = "runs/studies", out: str | Path = "reports", profile: str | None = None,
                   cost: bool = True, notebooks: bool = True, protocols_results: str | None = None,
                   protocols_dataset: str | None = None, cost_latency_max_gmacs: float | None = None) -> Path:
    """Build the report; returns the path of index.html."""
    out = Path(out)
    studies = aggregate(studies_dir, profile)
    h = [f"<!doctype html><html><head><meta charset='utf-8'><title>trackkit report</title><style>{_CSS}</style>"
         "</head><body><h1>trackkit report</h1>",
         f"<p class='muted'>generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from "
         f"{html.escape(str(studies_dir))}; CIs: 95% percentile bootstrap of the mean.</p>"]
    md = ["# trackkit report", "", "95% CIs: percentile bootstrap of the mean.", ""]
    if not studies:
        h.append("<p>No study records found.</p>")
        md.append("No study records found.")

    def figure(fig, name: str, alt: str) -> None:
        png = figures.to_png(fig)
        write_bytes(out / "figures" / f"{name}.png", png)
        h.append(f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
        md.append(f"![{alt}](figures/{name}.png)")

    for st in studies:
        m, runs, summary = st["manifest"], st["runs"], st["summary"]
        cfg, name = m.get("report") or {}, m["study"]
        for kind in ("runs", "units", "summary"):
            _write_table(st[kind], out / "tables" / f"{name}_{kind}")
        title = cfg.get("title") or name
        n_fail = int((runs.status != "ok").sum())
        h.append(f"<h2 id='{html.escape(name)}'>{html.escape(title)}</h2><p>{html.escape(m.get('description', ''))}"
                 f"</p><p class='muted'>study <b>{html.escape(name)}</b>, profile <b>{html.escape(m['profile'])}</b>:"
                 f" {len(runs)} runs, {n_fail} not ok.</p>")
        md += [f"## {title}", "", m.get("description", ""), "",
               f"Study `{name}`, profile `{m['profile']}`: {len(runs)} runs, {n_fail} not ok.", ""]
        if n_fail:
            bad = runs[runs.status != "ok"][["key", "status", "error"]]
            h.append("<div class='fail'>" + _html_table(bad) + "</div>")
            md += [_md_table(bad), ""]
        labels = cfg.get("metrics") or {}
        wide = wide_summary(summary, st["index"], labels)
        pt = None
        if cfg.get("paper"):
            pt = paper_table(cfg["paper"])
        h.append("<div class='side'><div><h3>Ours</h3>" + (_html_table(wide) if not wide.empty else "<p>no metrics</p>")
                 + "</div>")
        md += ["### Ours", "", _md_table(wide) if not wide.empty else "no metrics", ""]
        if pt is not None:
            paper_df = pt.frame().rename(columns=pt.columns)
            h.append(f"<div><h3>Paper: {html.escape(pt.table)}</h3>{_html_table(paper_df)}"
                     f"<p class='muted'>{html.escape(pt.paper)}. {html.escape(pt.caption)}</p></div>")
            md += [f"### Paper: {pt.table}", "", _md_table(paper_df), "", f"{pt.paper}. {pt.caption}", ""]
        h.append("</div>")
        compare_fn = _paper_rows_comparison if cfg.get("paper_rows") else _comparison
        if pt is not None and (cmp_df := compare_fn(st, pt)) is not None:
            _write_table(cmp_df, out / "tables" / f"{name}_vs_paper")
            h.append("<h3>Ours vs paper</h3>" + _html_table(cmp_df))
            md += ["### Ours vs paper", "", _md_table(cmp_df), ""]
        if not summary.empty:
            h.append("<div class='figs'>")
            trade = cfg.get("tradeoff")
            if trade:
                figure(figures.tradeoff_figure(summary, trade["x"], trade["y"], trade.get("hue"), trade.get("label"),
                                               labels.get(trade["x"]), labels.get(trade["y"]), trade.get("style")),
                       f"{name}_tradeoff", f"{title}: {labels.get(trade['y'], trade['y'])} against "
                                           f"{labels.get(trade['x'], trade['x'])}")
            specs = cfg.get("figures") or [{"metrics": list(summary["metric"].unique())}]
            for spec in specs:
                units = _select(st["units"], {PARAM + k: v for k, v in (spec.get("where") or {}).items()})
                axes = [PARAM + a for a in (spec.get("x"), spec.get("hue")) if a] or st["index"]
                suffix = f"_by_{spec['x']}" if spec.get("x") else ""
                for metric in spec.get("metrics") or list(summary["metric"].unique()):
                    if units.empty or metric not in set(units["metric"]):
                        continue
                    figure(figures.metric_figure(units, axes, metric, labels.get(metric)),
                           f"{name}_{metric}{suffix}", f"{title}: {labels.get(metric, metric)}")
            h.append("</div>")
            md.append("")
        if notebooks:
            from tqdm.auto import tqdm

            links = []
            for _, r in tqdm(list(runs.iterrows()), desc=f"{name}: notebooks to HTML", unit="nb", leave=False):
                src = run_dir(studies_dir, name, r["key"]) / NOTEBOOK_FILE
                dst = out / "notebooks" / name / f"{r['key']}.html"
                if src.exists() and _notebook_html(src, dst):
                    params = ", ".join(f"{c[len(PARAM):]}={r[c]}" for c in runs if c.startswith(PARAM))
                    links.append((f"notebooks/{name}/{r['key']}.html", params, r["status"]))
            if links:
                h.append("<details><summary>executed notebooks</summary><ul>" + "".join(
                    f"<li><a href='{a}'>{html.escape(p)}</a> ({s})</li>" for a, p, s in links) + "</ul></details>")
                md += ["Executed notebooks: " + ", ".join(f"[{p}]({a})" for a, p, _ in links), ""]

    h.append("<h2 id='cost'>Cost of every preset</h2>")
    md += ["## Cost of every preset", ""]
    if cost:
        try:
            df, why = cost_table(out / "tables" / "cost_cache.json", latency_max_gmacs=cost_latency_max_gmacs)
        except Exception:
            df, why = None, "cost table failed:\n" + traceback.format_exc(limit=3)
    else:
        df, why = None, "skipped (--no-cost)"
    if df is not None and not df.empty:
        _write_table(df, out / "tables" / "cost")
        h.append(_html_table(df))
        md += [_md_table(df), ""]
        timed = df.dropna(subset=["latency_ms"]) if {"macs_g", "latency_ms"} <= set(df.columns) else df.iloc[:0]
        if len(timed) and timed["macs_g"].notna().all():
            h.append("<div class='figs'>")
            figure(figures.cost_figure(timed), "cost", "latency against MACs per preset")
            h.append("</div>")
    else:
        h.append(f"<p class='muted'>{html.escape(why)}</p>")
        md += [why, ""]

    h.append("<h2 id='protocols'>One results set under every evaluation protocol</h2>")
    md += ["## One results set under every evaluation protocol", ""]
    source = ""
    if not protocols_results:  # a study may name a results set its runs recorded (report.protocols)
        protocols_results, protocols_dataset, source = _recorded_results_set(studies, studies_dir)
    df, why = protocols_table(protocols_results, protocols_dataset)
    if df is not None and source:
        h.append(f"<p class='muted'>{html.escape(source)}</p>")
        md += [source, ""]
    if df is not None:
        _write_table(df, out / "tables" / "protocols")
        h.append(_html_table(df))
        md += [_md_table(df), ""]
    else:
        h.append(f"<p class='muted'>{html.escape(why)}</p>")
        md += [why, ""]

    h.append("</body></html>")
    write_text(out / "summary.md", "\n".join(md) + "\n")
    write_text(out / "index.html", "\n".join(h))
    return out / "index.html"
