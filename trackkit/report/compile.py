"""Compile study records into ``reports/``: tidy tables, figures, index.html and summary.md.

Layout written under ``out`` (Cookiecutter Data Science's ``reports/`` convention)::

    index.html                 self-contained: figures embedded as base64 PNG
    summary.md                 the same tables in markdown, figures linked from figures/
    figures/<study>_<metric>.png
    tables/<study>_{runs,units,summary}.{csv,parquet}, <study>_<recorded table>.*
    notebooks/<study>/<key>.html   executed notebooks, nbconvert --no-input

The report only reads what the study runs recorded (metrics, per-sequence tables, other
tables); it never trains, tracks, scores or times anything, and a table that no run recorded
is reported as absent, with the command that records it.

A study's ``report:`` mapping (copied into its manifest by the runner) drives its section::

    report:
      title: Early candidate elimination
      index: [search_size, ce]          # params that identify a row (default: varying params)
      metrics: {macs_g: MACs (G), fps: FPS, ao: AO (%)}   # metric -> label (default: all)
      summary: true                     # false: no metric summary / figures (a study of tables)
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
      tables:                           # tables runs recorded (record_table), shown as recorded
        - {name: protocols, title: ..., where: {keep_ratio: 1.0}, note: ..., figure: cost}
"""
from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from trackkit.atomic import atomic_open, write_bytes, write_text
from trackkit.errors import ConfigError
from trackkit.progress import progress
from trackkit.report import figures
from trackkit.report.aggregate import METRIC, PARAM, aggregate, wide_summary
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


def effects_table(study: dict, seed_sd: float | None = None) -> pd.DataFrame | None:
    """Which of the paper's effects this scale can resolve: per ``report.effects`` entry, our paired
    difference (metric ``m`` recorded with ``m_lo`` / ``m_hi``: its 95% CI) at the grid point
    ``where``, the minimum detectable effect (the CI half-width: a true effect smaller than it is
    not told apart from zero by this test split) and the paper's effect beside it. With
    ``seed_sd`` (the AO standard deviation of one preset trained with other seeds, in points)
    and ``trained: true`` (the two sides are separately trained networks), the half-width grows
    to sqrt(h^2 + (1.96 * sqrt(2) * seed_sd)^2): the CI resamples only sequences, not training."""
    import math

    cfg = study["manifest"].get("report") or {}
    specs = cfg.get("effects") or []
    if not specs:
        return None
    runs = study["runs"]
    runs = runs[runs.status == "ok"] if "status" in runs else runs
    seed_sd = cfg.get("seed_sd", seed_sd)
    rows = []
    for e in specs:
        sel = _select(runs, {PARAM + k: v for k, v in (e.get("where") or {}).items()})
        col = METRIC + e["metric"]
        if sel.empty or col not in sel:
            continue
        mean = float(sel[col].astype(float).mean())
        lo = float(sel.get(col + "_lo", pd.Series([math.nan])).astype(float).mean())
        hi = float(sel.get(col + "_hi", pd.Series([math.nan])).astype(float).mean())
        half = (hi - lo) / 2
        if seed_sd and e.get("trained"):
            half = math.sqrt(half ** 2 + (1.96 * math.sqrt(2) * float(seed_sd)) ** 2)
        paper = e.get("paper")
        row = {"comparison": e["label"], "ours (pts)": mean, "95% CI": f"[{lo:.2f}, {hi:.2f}]",
               "MDE (pts)": half, "paper (pts)": paper}
        row["paper effect resolvable here"] = ("–" if paper is None or math.isnan(half)
                                               else "yes" if abs(float(paper)) > half else "no")
        rows.append(row)
    return pd.DataFrame(rows) if rows else None


def environment_line(manifest: dict) -> str:
    """'Environment: ...' from the manifest (studies run before it was recorded: '')."""
    env = manifest.get("environment")
    if not env:
        return ""
    gpu = f", GPU {env['gpu']}" if env.get("gpu") else ", no GPU"
    return (f"Environment: {env.get('cpu')} ({env.get('cores')} cores, {env.get('workers')} worker(s); each run's "
            f"torch threads are in its record){gpu}; Python {env.get('python')}, torch {env.get('torch')}, "
            f"numpy {env.get('numpy')}.")


def seed_spread(studies: list[dict], studies_dir) -> dict[str, float]:
    """{tracker: AO standard deviation over training seeds} from the trackers study's
    ``seed_spread`` table (its ``all`` run), when that study was run; else {}."""
    for st in studies:
        if st["manifest"]["study"] == "trackers":
            df, _ = recorded_table(st, {"name": "seed_spread", "where": {"tracker": "all"}}, studies_dir)
            if df is not None and {"tracker", "ao_sd"} <= set(df.columns):
                return {str(r["tracker"]): float(r["ao_sd"]) for _, r in df.iterrows()}
    return {}


def _machine_prefixes(*extra) -> list[tuple[str, str]]:
    """(folder, placeholder) pairs for the folders of this machine that outputs print (library
    warnings and tracebacks name files under the environment and the interpreter), longest
    first so the most specific one wins."""
    import sys

    pairs = {str(Path(sys.prefix).resolve()): "<env>", str(Path(sys.base_prefix).resolve()): "<python>",
             str(Path.cwd().resolve()): "<cwd>", str(Path.home()): "~"}
    pairs.update({str(Path(e).resolve()): f"<{Path(e).name}>" for e in extra})
    return sorted(((k, v) for k, v in pairs.items() if k not in ("/", "")), key=lambda kv: -len(kv[0]))


def _redact(text: str, prefixes: list[tuple[str, str]]) -> str:
    for folder, placeholder in prefixes:
        text = text.replace(folder, placeholder)
    return text


def _notebook_html(src: Path, dst: Path, prefixes: list[tuple[str, str]]) -> bool:
    """The executed notebook as HTML without its code, its outputs' machine folders replaced by
    placeholders (a committed report names no folders of the machine that ran the study)."""
    from nbconvert import HTMLExporter
    import nbformat

    exporter = HTMLExporter(exclude_input=True)
    exporter.register_preprocessor("nbconvert.preprocessors.TagRemovePreprocessor", enabled=True)
    exporter.config.TagRemovePreprocessor.remove_cell_tags = {"parameters", "injected-parameters"}
    try:
        nb = nbformat.read(src, as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                if "text" in out:
                    out["text"] = _redact(out["text"], prefixes)
                if "traceback" in out:
                    out["traceback"] = [_redact(t, prefixes) for t in out["traceback"]]
                if "text/plain" in out.get("data", {}):
                    out["data"]["text/plain"] = _redact(out["data"]["text/plain"], prefixes)
        body, _ = exporter.from_notebook_node(nb)
    except Exception:  # a notebook cut short by a dead kernel may not convert
        return False
    write_text(dst, _share_head_styles(body, dst))
    return True


def _share_head_styles(body: str, dst: Path) -> str:
    """Move the <style> blocks of the page's <head> (nbconvert's template CSS, ~260 kB and the
    same in every notebook) into one stylesheet beside the notebook folders, named by its hash,
    and link it: the report's notebooks then hold their own content only."""
    import hashlib
    import re

    end = body.find("</head>")
    if end < 0:
        return body
    head = body[:end]
    styles = re.findall(r"<style[^>]*>.*?</style>", head, flags=re.S)
    if not styles:
        return body
    css = "\n".join(re.sub(r"^<style[^>]*>|</style>$", "", st) for st in styles)
    name = f"nbconvert-{hashlib.sha256(css.encode()).hexdigest()[:12]}.css"
    shared = dst.parent.parent / name
    if not shared.exists():
        write_text(shared, css)
    for st in styles[1:]:
        head = head.replace(st, "", 1)
    head = head.replace(styles[0], f"<link rel='stylesheet' href='../{name}'>", 1)
    return head + body[end:]


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1,h2,h3{font-weight:600} .tbl{border-collapse:collapse;font-size:13px;margin:.5em 0}
.tbl td,.tbl th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right} .side{display:flex;gap:2em;flex-wrap:wrap}
.figs{display:flex;flex-wrap:wrap;gap:1em} .figs img{max-width:360px} .muted{color:#777} .fail{color:#b00}"""


def _display_path(path) -> str:
    """A path as the report shows it: relative to the working directory when under it, else
    its last two parts (a committed report names no machine's folders)."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return Path(*p.parts[-2:]).as_posix()


def recorded_table(study: dict, spec: dict, studies_dir) -> tuple[pd.DataFrame | None, str]:
    """(table, where it came from) for one ``report.tables`` entry of a study, or (None, why not).

    The table is read from the first finished ``ok`` run (in the study's run order) whose
    parameters match ``spec['where']`` and which recorded it; nothing is recomputed."""
    from trackkit.study.records import read_record, read_table

    m = study["manifest"]
    name, where = spec["name"], spec.get("where") or {}
    for run in m["runs"]:
        if any(_norm(run["params"].get(k)) != _norm(v) for k, v in where.items()):
            continue
        folder = run_dir(studies_dir, m["study"], run["key"])
        rec = read_record(folder) or {}
        if rec.get("status") == "ok" and name in (rec.get("tables") or []):
            params = ", ".join(f"{k}={_norm(run['params'][k])}" for k in where) or "its only grid point"
            return read_table(folder, name), f"recorded by run {run['key']} of study {m['study']} ({params})"
    cond = f" with {', '.join(f'{k}={_norm(v)}' for k, v in where.items())}" if where else ""
    study_file = _display_path(m["study_file"]) if m.get("study_file") else m["study"]
    return None, (f"Not recorded: no finished run of study {m['study']} (profile {m['profile']}){cond} holds "
                  f"table '{name}'. Run `trackkit study run {study_file} --profile {m['profile']}` to record it; "
                  "the report never recomputes it.")


def compile_report(studies_dir: str | Path = "runs/studies", out: str | Path = "reports", profile: str | None = None,
                   notebooks: bool = True, **removed) -> Path:
    """Build the report from the study records under ``studies_dir``; returns index.html's path.

    The report only reads records. The keyword arguments of its earlier versions that made it
    profile presets or score a results folder (``protocols_results``, ``protocols_dataset``,
    ``cost_latency_max_gmacs``) are refused when set; ``cost`` is accepted and ignored (the
    preset costs are a study now: studies/preset_costs.yaml).
    """
    removed.pop("cost", None)
    given = sorted(k for k, v in removed.items() if v is not None)
    if given:
        raise ConfigError(f"compile_report: {', '.join(given)} no longer exist: the report only reads study "
                          "records (record preset costs with studies/preset_costs.yaml; protocol scores are "
                          "recorded by the study notebooks)")
    out = Path(out)
    studies = aggregate(studies_dir, profile)
    h = [f"<!doctype html><html><head><meta charset='utf-8'><title>trackkit report</title><style>{_CSS}</style>"
         "</head><body><h1>trackkit report</h1>",
         f"<p class='muted'>generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from "
         f"{html.escape(_display_path(studies_dir))}; CIs: 95% percentile bootstrap of the mean.</p>"]
    md = ["# trackkit report", "", "95% CIs: percentile bootstrap of the mean.", ""]
    if not studies:
        h.append("<p>No study records found.</p>")
        md.append("No study records found.")

    def figure(fig, name: str, alt: str) -> None:
        png = figures.to_png(fig)
        write_bytes(out / "figures" / f"{name}.png", png)
        study_name = st["manifest"]["study"]  # the figure links to the notebooks whose records it draws
        h.append(f"<a href='#{html.escape(study_name)}-notebooks' title='the executed notebooks'>"
                 f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'></a>")
        md.append(f"![{alt}](figures/{name}.png)")

    spread = seed_spread(studies, studies_dir)
    for st in studies:
        m, runs, summary = st["manifest"], st["runs"], st["summary"]
        cfg, name = m.get("report") or {}, m["study"]
        for kind in ("runs", "units", "summary"):
            _write_table(st[kind], out / "tables" / f"{name}_{kind}")
        title = cfg.get("title") or name
        n_fail = int((runs.status != "ok").sum())
        env = environment_line(m)
        h.append(f"<h2 id='{html.escape(name)}'>{html.escape(title)}</h2><p>{html.escape(m.get('description', ''))}"
                 f"</p><p class='muted'>study <b>{html.escape(name)}</b>, profile <b>{html.escape(m['profile'])}</b>:"
                 f" {len(runs)} runs, {n_fail} not ok. {html.escape(env)} Figures link to the "
                 f"<a href='#{html.escape(name)}-notebooks'>executed notebooks</a> whose records they draw.</p>")
        md += [f"## {title}", "", m.get("description", ""), "",
               f"Study `{name}`, profile `{m['profile']}`: {len(runs)} runs, {n_fail} not ok. {env}", ""]
        if n_fail:
            bad = runs[runs.status != "ok"][["key", "status", "error"]]
            h.append("<div class='fail'>" + _html_table(bad) + "</div>")
            md += [_md_table(bad), ""]
        labels = cfg.get("metrics") or {}
        wide = wide_summary(summary, st["index"], labels)
        pt = None
        if cfg.get("paper"):
            pt = paper_table(cfg["paper"])
        h.append("<div class='side'>")
        if cfg.get("summary", True):  # a study that only records tables turns its metric summary off
            h.append("<div><h3>Ours</h3>" + (_html_table(wide) if not wide.empty else "<p>no metrics</p>") + "</div>")
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
        # the pooled spread (every measured family, more degrees of freedom) when the study names a family
        family = cfg.get("seed_family", "")
        pooled = family and "pooled" in spread and "seed_sd" not in cfg
        sd = cfg.get("seed_sd", spread.get("pooled", spread.get(family)) if family else None)
        if (eff := effects_table(st, sd)) is not None:
            _write_table(eff, out / "tables" / f"{name}_effects")
            source = (f"pooled over the families of studies/trackers.yaml's seed_spread table, {family}'s own there too"
                      if pooled else f"{family or 'this network'}, studies/trackers.yaml")
            note = ("MDE: the half-width of the paired difference's 95% CI at this profile (a true effect "
                    "smaller than it is not resolved by this test split)"
                    + (f"; comparisons of two separately trained networks add the training-seed spread (sd "
                       f"{sd:.2f} AO pts over seeds, {source}): sqrt(h^2 + (1.96 sqrt(2) sd)^2)" if sd else
                       "; it resamples sequences only: training-seed noise comes on top (not measured for this family)"))
            h.append("<h3>What this scale can resolve</h3>" + f"<p class='muted'>{html.escape(note)}</p>"
                     + _html_table(eff))
            md += ["### What this scale can resolve", "", note, "", _md_table(eff), ""]
        if not summary.empty and cfg.get("summary", True):
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
        for spec in cfg.get("tables") or []:
            table_title = spec.get("title") or spec["name"]
            h.append(f"<h3>{html.escape(table_title)}</h3>")
            md += [f"### {table_title}", ""]
            df, source = recorded_table(st, spec, studies_dir)
            if df is None:
                h.append(f"<p class='fail'>{html.escape(source)}</p>")
                md += [source, ""]
                continue
            _write_table(df, out / "tables" / f"{name}_{spec['name']}")
            note = f"{source}. {spec['note']}" if spec.get("note") else source
            h.append(f"<p class='muted'>{html.escape(note)}</p>" + _html_table(df))
            md += [note, "", _md_table(df), ""]
            if spec.get("figure") == "cost" and {"macs_g", "latency_ms"} <= set(df.columns):
                timed = df.dropna(subset=["macs_g", "latency_ms"])
                if len(timed):
                    h.append("<div class='figs'>")
                    figure(figures.cost_figure(timed), f"{name}_{spec['name']}",
                           f"{table_title}: latency against MACs")
                    h.append("</div>")
                    md.append("")
        if notebooks:
            prefixes = _machine_prefixes(studies_dir)
            links = []
            for _, r in progress(list(runs.iterrows()), desc=f"{name}: notebooks to HTML", unit="nb", leave=False):
                src = run_dir(studies_dir, name, r["key"]) / NOTEBOOK_FILE
                dst = out / "notebooks" / name / f"{r['key']}.html"
                if src.exists() and _notebook_html(src, dst, prefixes):
                    params = ", ".join(f"{c[len(PARAM):]}={r[c]}" for c in runs if c.startswith(PARAM))
                    links.append((f"notebooks/{name}/{r['key']}.html", params, r["status"]))
            if links:
                h.append(f"<details id='{html.escape(name)}-notebooks'><summary>executed notebooks</summary><ul>" + "".join(
                    f"<li><a href='{a}'>{html.escape(p)}</a> ({s})</li>" for a, p, s in links) + "</ul></details>")
                md += ["Executed notebooks: " + ", ".join(f"[{p}]({a})" for a, p, _ in links), ""]

    h.append("</body></html>")
    write_text(out / "summary.md", "\n".join(md) + "\n")
    write_text(out / "index.html", "\n".join(h))
    return out / "index.html"
