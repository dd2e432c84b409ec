"""Notebooks: each runs under nbval (lax: committed without outputs) at its committed defaults,
which are the smoke profile; .py / .ipynb pairs are in sync; the ECE study's contract with its
notebook, its shared-artifact cache and its report sections."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trackkit.atomic import write_json
from trackkit.progress import ENV as PROGRESS_ENV
from trackkit.study.records import record, record_table

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.py"))


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_under_nbval(script):
    """The committed notebook, executed top to bottom by nbval in its own pytest process, with
    progress bars as summary lines (batch mode: trackkit.progress)."""
    nb = script.with_suffix(".ipynb")
    out = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider",
                          "-p", "no:xdist", str(nb)], cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**os.environ, PROGRESS_ENV: "lines"})
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.stem)
def test_pairs_are_in_sync_and_committed_without_outputs(script):
    import jupytext
    import nbformat

    nb_path = script.with_suffix(".ipynb")
    assert nb_path.exists(), f"{nb_path.name} missing: run `jupytext --sync {script.relative_to(REPO)}`"
    py, ipynb = jupytext.read(script), nbformat.read(nb_path, as_version=4)
    assert [(c.cell_type, c.source) for c in py.cells] == [(c.cell_type, c.source) for c in ipynb.cells], \
        f"{script.name} and {nb_path.name} differ: run `jupytext --sync {script.relative_to(REPO)}`"
    for c in ipynb.cells:
        if c.cell_type == "code":
            assert not c.outputs and c.execution_count is None, f"{nb_path.name}: commit it without outputs"
    tagged = [c for c in ipynb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"


def _assert_smoke_equals_defaults(study_file: str, axes=()) -> tuple:
    from trackkit.study.spec import load_study

    study = load_study(REPO / "studies" / study_file)
    defaults = {k: v["default"] for k, v in study.notebook_params.items()}
    for run in study.runs("smoke"):
        for k, v in run.items():
            if k not in axes:  # the points' axes
                assert str(v).replace("'", '"') == str(defaults[k]).strip("\"'").replace("'", '"'), k
    return study, defaults


STUDIES = sorted((REPO / "studies").glob("*.yaml"))


@pytest.mark.parametrize("study_file", STUDIES, ids=lambda p: p.stem)
def test_every_study_smoke_profile_runs_its_notebook_defaults(study_file):
    """Every study's smoke profile is its notebook's committed defaults (what nbval runs in CI),
    up to the axes its smoke points vary; every profile's parameters exist in the notebook."""
    from trackkit.study.spec import load_study

    study = load_study(study_file)
    smoke = study.profile("smoke")
    points = study.points if smoke.points is None else smoke.points
    axes = {k for point in points for k in point} | set({**study.grid, **smoke.grid})
    _assert_smoke_equals_defaults(study_file.name, tuple(axes))
    for name in study.profiles:
        assert study.runs(name), name


def test_preset_costs_smoke_profile_equals_the_committed_defaults():
    study, _ = _assert_smoke_equals_defaults("preset_costs.yaml")
    assert study.runs("cpu")[0]["presets"] == []  # the cpu profile: every registered preset
    assert study.report["tables"][0]["name"] == "cost"


def test_ece_smoke_profile_equals_the_committed_defaults():
    study, defaults = _assert_smoke_equals_defaults("ece_keep_ratio.yaml", ("keep_ratio", "search_size", "ce_mode", "init"))
    assert {r["keep_ratio"] for r in study.runs("smoke")} >= {1.0, float(defaults["keep_ratio"])}
    # with --workers 2 the runs that train a network come first (two at a time); the rest only
    # apply CE at inference to one of those networks
    cpu = study.runs("cpu")
    trains = [r for r in cpu if r["keep_ratio"] == 1.0 or r["ce_mode"] == "trained"]
    assert cpu[:len(trains)] == trains and len(trains) >= 3
    assert all(r["ce_mode"] == "inference" for r in cpu[len(trains):])
    assert sorted({r["keep_ratio"] for r in cpu}) == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert len({str(r["ce_loc"]) for r in cpu}) >= 4


# ---------------------------------------------------------------- shared artifacts

def test_cached_training_trains_once_per_settings(tmp_path):
    from trackkit.families import get_preset, load_model
    from trackkit.study.shared import SyntheticData, cached_training

    p = get_preset("ostrack-cpu-noce", ["train.epochs=1", "train.samples_per_epoch=4", "train.batch_size=4"])
    data = SyntheticData("clean", 2, 20)
    kw = dict(data=data, seed=0, progress=False, log=None)
    first = cached_training(tmp_path, p, **kw)
    again = cached_training(tmp_path, p, **kw)
    assert not first.cached and again.cached and again.key == first.key and again.path == first.path
    other = cached_training(tmp_path, p, data=data, seed=1, progress=False, log=None)
    assert other.key != first.key  # another seed, other weights
    model, preset = load_model(first.path)
    assert preset.model == p.model
    assert any(not torch_equal(a, b) for a, b in zip(model.state_dict().values(),
                                                     load_model(other.path)[0].state_dict().values()))


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_cached_tracking_shares_one_folder_whatever_the_tracker_is_called(tmp_path):
    from trackkit.data.synth import SynthDataset, get_synth_preset
    from trackkit.study.shared import cached_tracking
    from trackkit.track import InitBoxTracker

    ds = SynthDataset(get_synth_preset("clean"), 2, 5, seed=0, split="test")
    a, b = InitBoxTracker(), InitBoxTracker()
    a.name, b.name = "variant", "reference"
    folder, cached = cached_tracking(tmp_path, a, ds, settings={"x": 1}, batch_size=1, progress=False, log=None)
    again, cached2 = cached_tracking(tmp_path, b, ds, settings={"x": 1}, batch_size=1, progress=False, log=None)
    assert (cached, cached2) == (False, True) and again == folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(ds.names)
    other, _ = cached_tracking(tmp_path, a, ds, settings={"x": 2}, batch_size=1, progress=False, log=None)
    assert other != folder


# ---------------------------------------------------------------- the study's report sections

def _fake_ece(out: Path) -> None:
    """Records shaped like the ECE notebook's, without running it."""
    rng = np.random.default_rng(0)
    runs = []
    points = [(s, k, [1, 2]) for s in (128, 192) for k in (1.0, 0.7)] + [(128, 0.5, [1, 2]), (128, 0.7, [1])]
    for i, (size, keep, loc) in enumerate(points):
        key = f"{i:016d}"
        params = {"search_size": size, "keep_ratio": keep, "ce_loc": loc, "seed": 0}
        data = out / "ece" / "runs" / key / "data"
        seqs = pd.DataFrame({"sequence": [f"s{j}" for j in range(6)], "ao": 50 + rng.normal(0, 3, 6) - 10 * (1 - keep)})
        macs = (0.09 if size == 128 else 0.2) * (1 - 0.3 * (1 - keep))
        metrics = record(data, ao=float(seqs.ao.mean()), macs_g=macs, fps=1000 / (10 * macs / 0.09), speedup=1 / keep)
        record_table(data, "sequences", seqs)
        write_json(data.parent / "record.json", {"key": key, "status": "ok", "params": params, "metrics": metrics})
        runs.append({"key": key, "params": params})
    report = {
        "index": ["search_size", "keep_ratio", "ce_loc"], "metrics": {"ao": "AO (%)", "macs_g": "MACs (G)"},
        "paper": "ostrack_table3", "compare": {"macs_g": "macs_g", "ao": "got10k_ao"}, "relative_to": {"ce": False},
        "paper_rows": [
            {"ours": {"search_size": 128, "keep_ratio": 1.0}, "paper": {"search_size": 256, "ce": False}},
            {"ours": {"search_size": 128, "keep_ratio": 0.7, "ce_loc": [1, 2]}, "paper": {"search_size": 256, "ce": True}},
            {"ours": {"search_size": 192, "keep_ratio": 1.0}, "paper": {"search_size": 384, "ce": False}},
            {"ours": {"search_size": 192, "keep_ratio": 0.7, "ce_loc": [1, 2]}, "paper": {"search_size": 384, "ce": True}}],
        "tradeoff": {"x": "speedup", "y": "ao", "hue": "ce_loc", "label": "keep_ratio"},
        "figures": [{"metrics": ["ao"], "x": "keep_ratio", "hue": "search_size", "where": {"ce_loc": [1, 2]}}],
    }
    write_json(out / "ece" / "cpu.json", {"kind": "trackkit-study-manifest", "study": "ece", "profile": "cpu",
                                          "description": "fake", "report": report, "runs": runs})


def test_report_pairs_our_rows_with_the_papers_and_draws_the_tradeoff(tmp_path):
    from trackkit.report.compile import compile_report

    studies, out = tmp_path / "studies", tmp_path / "reports"
    _fake_ece(studies)
    compile_report(studies, out, cost=False, notebooks=False)
    cmp = pd.read_csv(out / "tables" / "ece_vs_paper.csv")
    assert len(cmp) == 4  # the 0.5 and ce_loc [1] points stand for no paper row
    r = cmp[(cmp["search_size (ours)"] == 192) & cmp.ce].iloc[0]
    assert r.search_size == 384 and r["MACs (G) paper"] == 48.3 and round(r["MACs (G) Δ% paper"], 1) == -26.0
    assert r["MACs (G) Δ% ours"] == pytest.approx(-9.0)  # 0.2 * 0.91 vs 0.2
    assert (out / "figures" / "ece_tradeoff.png").stat().st_size > 1000
    assert (out / "figures" / "ece_ao_by_keep_ratio.png").exists()
    summary = pd.read_csv(out / "tables" / "ece_summary.csv")
    assert set(summary["p.ce_loc"]) == {"[1, 2]", "[1]"}  # list parameters group as their JSON text


# ---------------------------------------------------------------- runner support

def test_output_tail_prints_finished_lines_and_shows_the_live_one(tmp_path, capsys):
    from trackkit.study.runner import OUTPUT_LOG, OutputTail, RunTask

    task = RunTask(study="s", profile="p", key="abcdef0123456789", params={}, notebook="nb.py",
                   run_dir=str(tmp_path))
    (tmp_path / OUTPUT_LOG).write_text("stale line from an earlier attempt\n")

    class Bar:
        postfix = None

        def set_postfix_str(self, s, refresh=True):
            self.postfix = s

    bar = Bar()
    tail = OutputTail([task], bar)
    (tmp_path / OUTPUT_LOG).write_text("")  # the run starts: truncated
    tail.poll()
    (tmp_path / OUTPUT_LOG).write_text("training x\nepoch 1:  10%\repoch 1:  90%\repoch 1: done\nbar  5%\rbar 50%")
    tail.poll()
    out = capsys.readouterr().out
    assert "[abcdef] training x" in out and "[abcdef] epoch 1: done" in out
    assert "stale" not in out and "10%" not in out
    assert bar.postfix == "[abcdef] bar 50%"


def test_shared_artifact_keys_follow_the_runners_code_version(monkeypatch):
    from trackkit.study.shared import CODE_VERSION_ENV, settings_key

    monkeypatch.setenv(CODE_VERSION_ENV, "v1")
    a = settings_key({"x": 1})
    monkeypatch.setenv(CODE_VERSION_ENV, "v2")
    assert settings_key({"x": 1}) != a
    assert settings_key({"x": 1}, code=False) == settings_key({"x": 1}, code=False)
